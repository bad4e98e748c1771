import { peerIdFromMultihash } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { InvalidSlotTableError } from '../errors.js'
import { SlotTable } from '../slots/table.js'
import type { SlotTable as SlotTableMessage } from '../pb/message.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Slot table -> protocol message (peer IDs and multiaddrs as bytes)
 */
export function tableToMessage (table: SlotTable): SlotTableMessage {
  return {
    epoch: table.epoch,
    ranges: table.ranges.map(r => ({
      start: r.start,
      end: r.end,
      owners: r.owners.map(o => o.toMultihash().bytes)
    })),
    peers: table.peers.map(p => ({
      id: p.id.toMultihash().bytes,
      addrs: p.addrs.map(a => a.bytes)
    })),
    clients: table.clients.map(c => ({
      id: c.id.toMultihash().bytes,
      readOnly: c.readOnly
    })),
    dead: table.dead.map(d => d.toMultihash().bytes)
  }
}

/**
 * Protocol message -> validated slot table. Anything a peer sent that does not
 * form a valid table throws `InvalidSlotTableError` naming the field.
 */
export function tableFromMessage (msg: SlotTableMessage): SlotTable {
  const problems: string[] = []

  const peerId = (bytes: Uint8Array, field: string): PeerId | undefined => {
    try {
      return peerIdFromMultihash(Digest.decode(bytes))
    } catch {
      problems.push(`${field} is not a valid peer ID`)
    }
  }

  const ranges = msg.ranges.map((r, i) => ({
    start: r.start,
    end: r.end,
    owners: r.owners.map((o, j) => peerId(o, `ranges[${i}].owners[${j}]`)).filter(p => p != null)
  }))

  const peers = msg.peers.map((p, i) => {
    const addrs: Multiaddr[] = []
    p.addrs.forEach((a, j) => {
      try {
        addrs.push(multiaddr(a))
      } catch {
        problems.push(`peers[${i}].addrs[${j}] is not a valid multiaddr`)
      }
    })

    return { id: peerId(p.id, `peers[${i}].id`), addrs }
  }).filter((p): p is { id: PeerId, addrs: Multiaddr[] } => p.id != null)

  const clients = msg.clients.map((c, i) => ({ id: peerId(c.id, `clients[${i}].id`), readOnly: c.readOnly }))
    .filter((c): c is { id: PeerId, readOnly: boolean } => c.id != null)

  const dead = msg.dead.map((d, i) => peerId(d, `dead[${i}]`)).filter(p => p != null)

  if (problems.length > 0) {
    throw new InvalidSlotTableError(problems)
  }

  return SlotTable.fromRanges({ epoch: msg.epoch, ranges, peers, clients, dead })
}
