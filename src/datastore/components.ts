import type { Owner } from '../owner/owner.js'
import type { Coordinator } from '../replication/coordinator.js'
import type { Router } from '../routing/router.js'

/**
 * What the operations of a `ClusterDatastore` are built from: the router for
 * everything that leaves this node, the owner service for this node's share
 */
export interface DatastoreComponents {
  router: Router
  owner: Owner
  /** Operations on replicated slots (ranges with several owners) */
  coordinator: Coordinator
  maxMessageSize: number
  /** Throws `NotStartedError` unless the store is started */
  assertStarted(): void
}
