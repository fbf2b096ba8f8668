import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCode } from '@shoal/core'
import { Level } from 'level'
import { describe, expect, it, onTestFinished } from 'vitest'
import { LevelStore } from '../src/store/level-store.ts'
import { runStoreCompliance, uploadRecord } from './store-compliance.ts'

runStoreCompliance('LevelStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
  return {
    create: async () => new LevelStore({ location: join(dir, 'db') }),
    destroy: () => rm(dir, { recursive: true, force: true })
  }
})

describe('LevelStore schema', () => {
  it('migrates a schema 1 database: uploads in progress get their owner index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const location = join(dir, 'db')
    const upload = uploadRecord('acct1', { createdAt: 7 })
    const old = new Level<string, unknown>(location, { valueEncoding: 'json' })
    await old.open()
    await old.batch([
      { type: 'put', key: 'meta:schema', value: 1 },
      { type: 'put', key: `upload:${upload.id}`, value: upload },
      { type: 'put', key: `upload-exp:${String(upload.expiresAt).padStart(16, '0')}:${upload.id}`, value: upload.id }
    ])
    await old.close()

    const store = new LevelStore({ location })
    await store.open()
    expect(await store.uploads.listUploads('acct1')).toEqual([upload])
    await store.close()
    const raw = new Level<string, unknown>(location, { valueEncoding: 'json' })
    await raw.open()
    expect(await raw.get('meta:schema')).toBe(4)
    await raw.put('meta:schema', 5)
    await raw.close()
    await expect(new LevelStore({ location }).open()).rejects.toMatchObject({ code: ErrorCode.INTERNAL })
  })

  it('migrates a schema 2 database: settlements and spans get their account and node indexes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const location = join(dir, 'db')
    const t = (ms: number) => String(ms).padStart(16, '0')
    const settlement = {
      serial: 'ser1',
      node: 'nodeA',
      account: 'acct1',
      piece: 'p',
      bytes: 5,
      grantExp: 9,
      settledAt: 100
    }
    const other = { ...settlement, serial: 'ser2', node: 'nodeB', account: 'acct2' }
    const span = { objectId: 'obj1', account: 'acct1', size: 10, nodes: {}, from: 50 }
    const old = new Level<string, unknown>(location, { valueEncoding: 'json' })
    await old.open()
    await old.batch([
      { type: 'put', key: 'meta:schema', value: 2 },
      ...[settlement, other].flatMap((r) => [
        { type: 'put' as const, key: `settle:${r.serial}`, value: r },
        { type: 'put' as const, key: `settle-time:${t(r.settledAt)}:${r.serial}`, value: r.serial }
      ]),
      { type: 'put', key: 'span:obj1', value: span },
      { type: 'put', key: 'span:obj2', value: { ...span, objectId: 'obj2', account: 'acct2' } }
    ])
    await old.close()

    const store = new LevelStore({ location })
    await store.open()
    onTestFinished(() => store.close())
    const range = { from: 0, to: 1000 }
    expect(await store.ledger.listSettlements({ ...range, account: 'acct1' })).toEqual([settlement])
    expect(await store.ledger.listSettlements({ ...range, node: 'nodeB' })).toEqual([other])
    expect(await store.ledger.listSettlements({ ...range, account: 'acct1', node: 'nodeB' })).toEqual([])
    expect(await store.ledger.listSettlements(range)).toHaveLength(2)
    expect(await store.ledger.listStorageSpans({ ...range, account: 'acct1' })).toEqual([span])
  })

  it('migrates a schema 3 database: committed segments get their index by node, in batches', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const location = join(dir, 'db')
    const old = new Level<string, unknown>(location, { valueEncoding: 'json' })
    await old.open()
    // More segments than one migration batch (5,000), so the index is written in several.
    const objects = 2600
    const ops: { type: 'put'; key: string; value: unknown }[] = [{ type: 'put', key: 'meta:schema', value: 3 }]
    for (let i = 0; i < objects; i++) {
      const object = { ...uploadRecord('acct1', { segmentCount: 2 }), id: `obj${String(i).padStart(5, '0')}` }
      ops.push({ type: 'put', key: `object:${object.id}`, value: object })
      for (const index of [0, 1]) {
        const pieces = ['nodeA', index === 0 ? 'nodeB' : 'nodeC', 'nodeA'].map((node, p) => ({
          index: p,
          cid: `c${p}`,
          node
        }))
        ops.push({ type: 'put', key: `oseg:${object.id}:${String(index).padStart(10, '0')}`, value: { index, pieces } })
      }
    }
    await old.batch(ops)
    await old.close()

    const store = new LevelStore({ location })
    await store.open()
    onTestFinished(() => store.close())
    expect(await store.objects.listSegmentsOnNode('nodeA', undefined, 10_000)).toHaveLength(2 * objects)
    const onB = await store.objects.listSegmentsOnNode('nodeB', undefined, 10_000)
    expect(onB.map((s) => s.segment.index)).toEqual(Array.from({ length: objects }, () => 0))
    expect(onB[0]?.objectId).toBe('obj00000')
    expect(await store.objects.listSegmentsOnNode('nodeC', { objectId: 'obj02598', index: 1 }, 10)).toHaveLength(1)
  })
})
