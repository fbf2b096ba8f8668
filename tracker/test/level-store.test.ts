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
    expect(await raw.get('meta:schema')).toBe(3)
    await raw.put('meta:schema', 4)
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
})
