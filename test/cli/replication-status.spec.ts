/**
 * How `status` combines the nodes' views of each other (replicated tables):
 * hints held and held for each node, lag, and `suspected` for a node that
 * answers the client while others suspect it (a partition, or just after a
 * restart: not reproducible on demand with processes, so tested here on the
 * views themselves).
 */

import { describe, it, expect } from 'vitest'
import { withReplicaHealth } from '../../src/cli/commands/status.js'
import { Health } from '../../src/cli/health.js'
import type { NodeStatus } from '../../src/cli/commands/status.js'

const ids = ['12D3KooWA', '12D3KooWB', '12D3KooWC']
const node = (i: number, state: NodeStatus['state'], error?: string): NodeStatus => ({ peerId: ids[i], addrs: [], ranges: [], slots: 0, state, ...(error == null ? {} : { error }) })
const peer = (i: number, state: Health.Peer.PeerState, hints: number, lag: number): Health.Peer => ({ peerId: ids[i], state, hints, lag })
const { UP, SUSPECTED } = Health.Peer.PeerState

describe('status: replica health from the nodes\' views', () => {
  it('a node that answers but another suspects is "suspected", naming who and for how long', () => {
    const views = [
      [peer(1, UP, 0, 300), peer(2, SUSPECTED, 7, 4200)],
      [peer(0, UP, 0, 200), peer(2, UP, 0, 900)],
      [peer(0, UP, 2, 100), peer(1, UP, 0, 250)]
    ]
    const out = withReplicaHealth(node(2, 'up'), 2, views[2], views)
    expect(out).toMatchObject({ state: 'suspected', hints: 2, hintsFor: 7, lag: 4200, suspectedBy: [1] })
    expect(out.error).toBe('answers this client, but node 1 suspects it down (no heartbeat answer for 4200 ms): writes hint it, reads skip it')
  })

  it('a node down stays down, its reason kept and the suspicion added; its own hints are unknown', () => {
    const views = [[peer(1, UP, 0, 10), peer(2, SUSPECTED, 3, 9000)], [peer(0, UP, 0, 10), peer(2, SUSPECTED, 4, 8000)], undefined]
    const out = withReplicaHealth(node(2, 'down', 'Could not reach peer'), 2, undefined, views)
    expect(out).toMatchObject({ state: 'down', hintsFor: 7, lag: 9000, suspectedBy: [1, 2] })
    expect(out.hints).toBeUndefined()
    expect(out.error).toBe('Could not reach peer; nodes 1, 2 suspect it down (no heartbeat answer for 9000 ms)')
  })

  it('all up: no suspicion, hints summed over what the node holds for each other node', () => {
    const views = [[peer(1, UP, 5, 10), peer(2, UP, 6, 20)], [peer(0, UP, 0, 30), peer(2, UP, 0, 40)], [peer(0, UP, 0, 50), peer(1, UP, 1, 60)]]
    const out = withReplicaHealth(node(0, 'up'), 0, views[0], views)
    expect(out).toEqual({ ...node(0, 'up'), hints: 11, hintsFor: 0, lag: 50 })
  })
})
