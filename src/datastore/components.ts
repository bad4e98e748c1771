import type { Owner } from '../owner/owner.js'
import type { Router } from '../routing/router.js'

/**
 * What the operations of a `ClusterDatastore` are built from: the router for
 * everything that leaves this node, the owner service for this node's share
 */
export interface DatastoreComponents {
  router: Router
  owner: Owner
  maxMessageSize: number
  /** Throws `NotStartedError` unless the store is started */
  assertStarted(): void
}
