import { join } from 'node:path'
import { ErrorCode } from '@shoal/core'
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { UsedSerials } from '../src/used-serials.ts'
import { Teardown, tempDir } from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

async function open(dir: string): Promise<{ db: Level<string, string>; serials: UsedSerials }> {
  const db = new Level<string, string>(join(dir, 'index'))
  await db.open()
  teardown.defer(() => db.close())
  return { db, serials: new UsedSerials(db) }
}

describe('UsedSerials', () => {
  it('lets each serial through once, even when claims race', async () => {
    const { serials } = await open(await tempDir(teardown.defer))
    const results = await Promise.allSettled([1, 2, 3].map(() => serials.claim('serial-race-1', Date.now() + 60_000)))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results.filter((r) => r.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: ErrorCode.GRANT_REPLAYED })
    }
    await expect(serials.claim('serial-race-1', Date.now() + 60_000)).rejects.toMatchObject({
      code: ErrorCode.GRANT_REPLAYED
    })
  })

  it('forgets serials only once their grants can no longer verify', async () => {
    const { serials } = await open(await tempDir(teardown.defer))
    const now = Date.now()
    await serials.claim('serial-old-1', now - 1000)
    await serials.claim('serial-new-1', now + 60_000)
    expect(await serials.prune(now)).toBe(1)
    expect(await serials.has('serial-old-1')).toBe(false)
    expect(await serials.has('serial-new-1')).toBe(true)
    expect(await serials.prune(now)).toBe(0)
    expect(await serials.prune(now + 120_000)).toBe(1)
    expect(await serials.has('serial-new-1')).toBe(false)
  })
})
