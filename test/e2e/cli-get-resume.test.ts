import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ShoalClient } from '@shoal/client'
import { downloadFile, isInterruption, partialPath } from '@shoal/client/files'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { startShoal } from './cli-helpers.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

const MiB = 1024 * 1024

/** An interrupted `shoal get` continues where it stopped when run again, as `shoal put` does. */
describe('shoal get resumes an interrupted download', { timeout: 180_000 }, () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  let env: NodeJS.ProcessEnv
  const shoal = (args: string[]) => startShoal(args, { cwd: work.path, env })

  beforeAll(async () => {
    work = await tempDir('shoal-get-resume-')
    net = await Testnet.start({ nodes: 4, k: 2, m: 2, segmentSize: '1MiB' })
    env = {
      SHOAL_HOME: join(work.path, 'home'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: 'resume@example.com',
      SHOAL_PASSWORD: 'resume-password-1'
    }
    expect((await shoal(['signup']).done).code).toBe(0)
  })
  afterAll(async () => {
    await net?.stop()
    await work?.cleanup()
  })

  async function partialSize(path: string): Promise<number> {
    return (await stat(path).catch(() => undefined))?.size ?? 0
  }

  /** Waits until the running download has written `bytes` to its partial file. */
  async function written(path: string, bytes: number, run: { stderr: () => string }): Promise<void> {
    const deadline = Date.now() + 60_000
    while ((await partialSize(path)) < bytes) {
      if (Date.now() > deadline) throw new Error(`no progress: ${run.stderr()}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  it('a download killed part-way is finished by the next run, from where it stopped, byte-identical', async () => {
    const source = join(work.path, 'movie.bin')
    const digest = await randomFile(source, 32 * MiB + 5)
    const put = await shoal(['put', source, 'movie.bin']).done
    expect(put.code, put.stderr).toBe(0)

    const out = join(work.path, 'movie-copy.bin')
    const partial = `${out}.shoal-partial`
    const first = shoal(['get', 'movie.bin', out])
    await written(partial, 4 * MiB, first)
    first.child.kill('SIGKILL')
    await first.done
    const kept = await partialSize(partial)
    expect(kept).toBeGreaterThanOrEqual(4 * MiB)
    expect(kept).toBeLessThan(32 * MiB)
    expect(await stat(out).catch(() => undefined)).toBeUndefined()

    const second = await shoal(['get', 'movie.bin', out]).done
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).toMatch(/Resuming the interrupted download of movie\.bin at \d+\.\d MiB of 32\.0 MiB/)
    expect(second.stderr).toContain('(resumed)')
    expect(await sha256File(out)).toBe(digest)
    expect(await stat(partial).catch(() => undefined)).toBeUndefined()
  })

  it('a partial file of a replaced file is discarded: the download starts over and matches the new file', async () => {
    const out = join(work.path, 'doc-copy.bin')
    const v1 = join(work.path, 'doc-v1.bin')
    await randomFile(v1, 12 * MiB)
    expect((await shoal(['put', v1, 'doc.bin']).done).code).toBe(0)
    const first = shoal(['get', 'doc.bin', out])
    await written(`${out}.shoal-partial`, 2 * MiB, first)
    first.child.kill('SIGKILL')
    await first.done

    const v2 = join(work.path, 'doc-v2.bin')
    const digest = await randomFile(v2, 12 * MiB)
    expect((await shoal(['put', v2, 'doc.bin', '--overwrite']).done).code).toBe(0)
    const second = await shoal(['get', 'doc.bin', out]).done
    expect(second.code, second.stderr).toBe(0)
    expect(second.stderr).not.toContain('Resuming')
    expect(await sha256File(out)).toBe(digest)
  })

  it('the SDK resumes the same way: downloadFile after an aborted one continues from the partial file', async () => {
    const source = join(work.path, 'album.zip')
    const digest = await randomFile(source, 16 * MiB + 77)
    expect((await shoal(['put', source, 'album.zip']).done).code).toBe(0)
    const client = await ShoalClient.login({
      tracker: net.tracker.url,
      email: env.SHOAL_EMAIL as string,
      password: env.SHOAL_PASSWORD as string
    })
    try {
      const out = join(work.path, 'album-copy.zip')
      const stop = new AbortController()
      const failed = await downloadFile(client, 'album.zip', out, {
        signal: stop.signal,
        onProgress: (p) => {
          if (p.bytes >= 4 * MiB) stop.abort()
        }
      }).catch((err: unknown) => err)
      expect(isInterruption(failed, stop.signal)).toBe(true)
      const kept = await partialSize(partialPath(out))
      expect(kept).toBeGreaterThan(0)
      expect(kept).toBeLessThan(16 * MiB)
      let resumedAt: number | undefined
      const done = await downloadFile(client, 'album.zip', out, {
        onResume: (offset) => {
          resumedAt = offset
        }
      })
      expect(done.resumedFrom).toBe(kept)
      expect(resumedAt).toBe(kept)
      expect(await sha256File(out)).toBe(digest)
      expect(await stat(partialPath(out)).catch(() => undefined)).toBeUndefined()
    } finally {
      await client.stop()
    }
  })
})
