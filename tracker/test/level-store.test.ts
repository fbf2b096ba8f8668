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
    expect(await raw.get('meta:schema')).toBe(2)
    await raw.put('meta:schema', 3)
    await raw.close()
    await expect(new LevelStore({ location }).open()).rejects.toMatchObject({ code: ErrorCode.INTERNAL })
  })
})
