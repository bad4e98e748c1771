/**
 * Writes of one caller to one key take effect in the order issued, as in a
 * single store: across putMany chunks (which are in flight at once), across
 * the parts of a batch too large for one message, and between single puts
 * issued without waiting — on the owner itself, through a remote owner and
 * through a client, with MemoryDatastore and LevelDB children.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import all from 'it-all'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySlot } from '../../src/index.js'
import { createCluster } from '../utils/cluster.js'
import type { ClusterNode, TestCluster } from '../utils/cluster.js'
import type { Datastore, Pair } from 'interface-datastore'

const enc = new TextEncoder()
const dec = new TextDecoder()
/** Small messages, so a modest batch must be split */
const MAX = 64 * 1024

for (const kind of ['MemoryDatastore', 'LevelDB'] as const) {
  describe(`per-key order of writes (${kind} children)`, () => {
    let cluster: TestCluster
    let dir: string | undefined
    const stores: Datastore[] = []

    beforeAll(async () => {
      if (kind === 'LevelDB') {
        dir = await mkdtemp(join(tmpdir(), 'ordering-'))

        for (let i = 0; i < 4; i++) {
          const level = new LevelDatastore(join(dir, `node-${i}`))
          await level.open()
          stores.push(level)
        }
      }

      cluster = await createCluster({
        nodes: 3,
        clients: 1,
        options: { maxMessageSize: MAX },
        local: (i) => stores[i] ?? new MemoryDatastore()
      })
    })

    afterAll(async () => {
      await cluster?.stop()

      for (const store of stores) {
        await (store as LevelDatastore).close()
      }

      if (dir != null) {
        await rm(dir, { recursive: true, force: true })
      }
    })

    /** The data node that owns `key` */
    function ownerOf (key: Key): ClusterNode {
      const owner = cluster.table.primary(keySlot(key))
      return cluster.nodes.find(n => n.libp2p.peerId.equals(owner)) as ClusterNode
    }

    /** The owner itself (local path), another data node, and the client */
    function callers (key: Key): Array<[string, ClusterNode]> {
      const owner = ownerOf(key)
      const other = cluster.nodes.find(n => n !== owner) as ClusterNode
      return [['the owner', owner], ['a remote member', other], ['a client', cluster.clients[0]]]
    }

    async function expectValue (key: Key, value: string): Promise<void> {
      // on the owner's child store itself, and through the cluster
      expect(dec.decode(await ownerOf(key).local.get(key))).toBe(value)
      expect(dec.decode(await cluster.nodes[0].store.get(key))).toBe(value)
    }

    // the earlier pair ends one chunk and the later one starts the next:
    // applied concurrently, the earlier would land last

    it('putMany: the later pair wins across chunks of 4096 pairs', async () => {
      for (const [who, caller] of callers(new Key('/order/chunks/target'))) {
        const key = new Key('/order/chunks/target')
        const filler = (i: number): Pair => ({ key: new Key(`/order/chunks/${who.length}/${i}`), value: enc.encode('f') })
        const source = [
          ...Array.from({ length: 4095 }, (_, i) => filler(i)),
          { key, value: enc.encode('first') },
          { key, value: enc.encode(`last from ${who}`) },
          ...Array.from({ length: 4095 }, (_, i) => filler(5000 + i))
        ]

        const yielded = await all(caller.store.putMany(source))

        expect(yielded).toHaveLength(source.length)
        await expectValue(key, `last from ${who}`)
      }
    })

    it('putMany: the later pair wins across chunks of 1 MiB', async () => {
      const big = new Uint8Array(MAX / 2)

      for (const [who, caller] of callers(new Key('/order/bytes/target'))) {
        const key = new Key('/order/bytes/target')
        const filler = (i: number): Pair => ({ key: new Key(`/order/bytes/${who.length}/${i}`), value: big })
        // 31 values of 32 KiB and the first pair, itself 32 KiB, close a chunk of 1 MiB
        await all(caller.store.putMany([
          ...Array.from({ length: 31 }, (_, i) => filler(i)),
          { key, value: enc.encode('first'.padEnd(MAX / 2)) },
          { key, value: enc.encode(`last from ${who}`) },
          ...Array.from({ length: 40 }, (_, i) => filler(100 + i))
        ]))
        await expectValue(key, `last from ${who}`)
      }
    })

    it('deleteMany after putMany of the same keys leaves nothing, across chunks', async () => {
      const keys = Array.from({ length: 4500 }, (_, i) => new Key(`/order/del/${i}`))
      const caller = cluster.clients[0].store
      await all(caller.putMany(keys.map(key => ({ key, value: enc.encode('x') }))))
      await all(caller.deleteMany(keys))
      await all(caller.putMany(keys.slice(0, 10).map(key => ({ key, value: enc.encode('again') }))))

      for (const key of keys.slice(0, 20)) {
        expect(await caller.has(key), key.toString()).toBe(keys.indexOf(key) < 10)
      }
    })

    it('a batch split into several messages for one owner applies its parts in order', async () => {
      // a hash tag puts every key in one slot: one owner, one share of
      // several messages; the earlier put ends the first, the later starts the second
      const key = new Key('/order/{batch}/target')
      const gone = new Key('/order/{batch}/gone')
      const value = new Uint8Array(MAX / 4)

      for (const [who, caller] of callers(key)) {
        await caller.store.put(gone, enc.encode('present'))
        const batch = caller.store.batch()
        batch.put(gone, enc.encode('put in the first part'))
        batch.put(new Key('/order/{batch}/filler/a'), value)
        batch.put(new Key('/order/{batch}/filler/b'), value)
        batch.put(key, enc.encode('first'.padEnd(MAX / 4)))
        batch.put(key, enc.encode(`last from ${who}`.padEnd(MAX / 4)))

        for (let i = 0; i < 8; i++) {
          batch.put(new Key(`/order/{batch}/filler/${i}`), value)
        }

        // deletes are applied after puts, as in a single store's batch
        batch.delete(gone)
        await batch.commit()

        await expectValue(key, `last from ${who}`.padEnd(MAX / 4))
        expect(await caller.store.has(gone), who).toBe(false)
      }
    })

    it('a single batch with the same key twice keeps the later put, as a single store does', async () => {
      const key = new Key('/order/twice')

      for (const [who, caller] of callers(key)) {
        const batch = caller.store.batch()
        batch.put(key, enc.encode('one'))
        batch.put(key, enc.encode(`two from ${who}`))
        await batch.commit()
        await expectValue(key, `two from ${who}`)
      }

      // the reference: a single store
      const single = new MemoryDatastore()
      const batch = single.batch()
      batch.put(key, enc.encode('one'))
      batch.put(key, enc.encode('two'))
      await batch.commit()
      expect(dec.decode(await single.get(key))).toBe('two')
    })

    it('single puts issued without waiting take effect in the order issued', async () => {
      const key = new Key('/order/single')

      for (const [who, caller] of callers(key)) {
        await Promise.all(Array.from({ length: 50 }, async (_, i) => caller.store.put(key, enc.encode(`${who} ${i}`))))
        await expectValue(key, `${who} 49`)
      }
    })
  })
}
