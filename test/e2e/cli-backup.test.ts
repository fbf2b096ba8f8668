import { appendFile, mkdir, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { gradientPng } from './browser-helpers.ts'
import { startShoal } from './cli-helpers.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

const MiB = 1024 * 1024

interface Listed {
  name: string
  size: number
  mime?: string
  meta: { taken?: number }
}

/** `shoal backup` as a user runs it: a separate process, against a real tracker and storage nodes. */
describe('shoal backup against a real network', { timeout: 240_000 }, () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  let env: NodeJS.ProcessEnv
  let photos: string

  beforeAll(async () => {
    work = await tempDir('shoal-backup-')
    net = await Testnet.start({ nodes: 4, k: 2, m: 2, segmentSize: '1MiB' })
    env = {
      SHOAL_HOME: join(work.path, 'home'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: 'backup@example.com',
      SHOAL_PASSWORD: 'backup-password-1'
    }
    photos = join(work.path, 'Phone')
    await mkdir(join(photos, 'DCIM', '2024'), { recursive: true })
    await writeFile(join(photos, 'DCIM', '2024', 'IMG_0001.png'), gradientPng(320, 200))
    await writeFile(join(photos, 'DCIM', '2024', 'IMG_0002.png'), gradientPng(200, 320))
    await writeFile(join(photos, 'notes.txt'), 'first version\n')
    await randomFile(join(photos, 'DCIM', 'clip.bin'), 3 * MiB + 17)
    expect((await shoal(['signup'])).code).toBe(0)
  })

  afterAll(async () => {
    await net?.stop()
    await work?.cleanup()
  })

  const start = (args: string[]) => startShoal(args, { cwd: work.path, env })
  const shoal = (args: string[]) => start(args).done

  async function until(check: () => boolean, what: string, timeout = 60_000): Promise<void> {
    const deadline = Date.now() + timeout
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  async function backup(...extra: string[]) {
    const run = await shoal(['backup', photos, '--to', 'Backups/phone', '--json', ...extra])
    expect(run.code, run.stderr).toBe(0)
    const summary = JSON.parse(run.stdout) as { uploaded: number; unchanged: number; failed: unknown[] }
    return { ...summary, stderr: run.stderr }
  }

  async function listed(): Promise<Map<string, Listed>> {
    const run = await shoal(['ls', '--json'])
    return new Map((JSON.parse(run.stdout) as Listed[]).map((e) => [e.name, e]))
  }

  it('the first run uploads everything with types the album reads; a rerun uploads nothing', async () => {
    const first = await backup()
    expect(first).toMatchObject({ uploaded: 4, unchanged: 0, failed: [] })
    expect(first.stderr).toMatch(/Backed up .*Phone to Backups\/phone: 4 uploaded \(3\.\d MiB\), 0 unchanged in/)
    const files = await listed()
    expect([...files.keys()].sort()).toEqual([
      'Backups/phone/DCIM/2024/IMG_0001.png',
      'Backups/phone/DCIM/2024/IMG_0002.png',
      'Backups/phone/DCIM/clip.bin',
      'Backups/phone/notes.txt'
    ])
    // The web UI's album shows what carries an image/* type, dated by `taken`.
    const photo = files.get('Backups/phone/DCIM/2024/IMG_0001.png')!
    expect(photo.mime).toBe('image/png')
    expect(photo.meta.taken).toBeGreaterThan(0)
    expect(files.get('Backups/phone/notes.txt')!.mime).toBe('text/plain')

    const again = await backup()
    expect(again).toMatchObject({ uploaded: 0, unchanged: 4, failed: [] })

    // A new device, or a lost SHOAL_HOME/backups: the drive's copies (same size and time) are not sent again.
    await rm(join(work.path, 'home', 'backups'), { recursive: true })
    expect(await backup()).toMatchObject({ uploaded: 0, unchanged: 4, failed: [] })
  })

  it('a changed file is uploaded again; a touched but identical one is not', async () => {
    await appendFile(join(photos, 'notes.txt'), 'second line\n')
    const later = new Date(Date.now() + 5000)
    await utimes(join(photos, 'DCIM', 'clip.bin'), later, later)
    const run = await backup()
    expect(run).toMatchObject({ uploaded: 1, unchanged: 3, failed: [] })
    expect(run.stderr).toContain('+ notes.txt')
    const out = join(work.path, 'notes-back.txt')
    expect((await shoal(['get', 'Backups/phone/notes.txt', out])).code).toBe(0)
    expect(await sha256File(out)).toBe(await sha256File(join(photos, 'notes.txt')))
  })

  it('a run killed part-way resumes: the rerun uploads only what is left and everything arrives intact', async () => {
    const batch = join(photos, 'batch')
    await mkdir(batch)
    const digests = new Map<string, string>()
    for (let i = 0; i < 6; i++) {
      const name = `video-${i}.bin`
      digests.set(name, await randomFile(join(batch, name), 2 * MiB + i))
    }
    const run = start(['backup', photos, '--to', 'Backups/phone'])
    await until(() => run.stderr().includes('+ batch/video-0.bin'), 'the first file of the batch')
    run.child.kill('SIGKILL')
    await run.done
    const uploadedBefore = (run.stderr().match(/^ {2}\+ /gm) ?? []).length
    expect(uploadedBefore).toBeGreaterThanOrEqual(1)
    expect(uploadedBefore).toBeLessThan(6)

    const rerun = await backup()
    expect(rerun.failed).toEqual([])
    // The kill may land between a file's commit and its "+" line: that file then counts as unchanged.
    expect(rerun.uploaded + rerun.unchanged).toBe(10)
    expect(rerun.uploaded).toBeGreaterThanOrEqual(5 - uploadedBefore)
    expect(rerun.uploaded).toBeLessThanOrEqual(6 - uploadedBefore)
    for (const [name, digest] of digests) {
      const out = join(work.path, `back-${name}`)
      const got = await shoal(['get', `Backups/phone/batch/${name}`, out])
      expect(got.code, got.stderr).toBe(0)
      expect(await sha256File(out)).toBe(digest)
    }
    expect(await backup()).toMatchObject({ uploaded: 0, failed: [] })
  })

  it('--watch backs up a new file as it appears', async () => {
    const run = start(['backup', photos, '--to', 'Backups/phone', '--watch'])
    await until(() => run.stderr().includes('Watching'), 'the first pass')
    await writeFile(join(photos, 'DCIM', '2024', 'IMG_0003.png'), gradientPng(100, 100))
    await until(() => run.stderr().includes('+ DCIM/2024/IMG_0003.png'), 'the new photo')
    run.child.kill('SIGINT')
    const { code } = await run.done
    expect(code).toBe(130)
    expect((await listed()).get('Backups/phone/DCIM/2024/IMG_0003.png')?.mime).toBe('image/png')
  })

  it('names that would make phantom folders are refused', async () => {
    await writeFile(join(work.path, 'x.txt'), 'x')
    for (const bad of ['a//b.txt', '/abs.txt', 'a/../b.txt']) {
      const run = await shoal(['put', 'x.txt', bad])
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/ERR_INVALID_INPUT/)
    }
    const run = await shoal(['backup', photos, '--to', 'bad//folder'])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/ERR_INVALID_INPUT/)
  })
})
