import { Key } from 'interface-datastore'
import { describe, it, expect } from 'vitest'
import { keySlot } from '../src/index.js'
import { createCluster, localKeys } from './utils/cluster.js'

describe('smoke', () => {
  it('routes puts to owners', async () => {
    const cluster = await createCluster({ nodes: 3 })
    try {
      const enc = new TextEncoder()
      for (let i = 0; i < 30; i++) {
        await cluster.nodes[i % 3].store.put(new Key(`/k${i}`), enc.encode(`v${i}`))
      }
      for (let i = 0; i < 30; i++) {
        const v = await cluster.nodes[(i + 1) % 3].store.get(new Key(`/k${i}`))
        expect(new TextDecoder().decode(v)).toBe(`v${i}`)
      }
      for (const node of cluster.nodes) {
        const keys = await localKeys(node.local)
        for (const k of keys) {
          expect(cluster.table.primary(keySlot(k)).equals(node.libp2p.peerId)).toBe(true)
        }
      }
      const all = []
      for await (const p of cluster.nodes[0].store.query({})) all.push(p.key.toString())
      expect(all.length).toBe(30)
      const many = []
      for await (const p of cluster.nodes[0].store.getMany(Array.from({ length: 30 }, (_, i) => new Key(`/k${i}`)))) many.push(p.key.toString())
      expect(many).toEqual(Array.from({ length: 30 }, (_, i) => `/k${i}`))
    } finally {
      await cluster.stop()
    }
  })
})
