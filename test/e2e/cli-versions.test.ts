import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { ShoalClient } from '@shoal/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { startShoal } from './cli-helpers.ts'
import { listFiles, randomFile, sha256File, tempDir, waitFor } from './helpers.ts'

const MiB = 1024 * 1024

interface Listed {
  id: string
  size: number
  current: boolean
}

/**
 * Versions as a user meets them (docs/versions.md): `shoal put --overwrite` keeps the old file, `shoal versions`
 * lists it, `shoal get --version` downloads it, `shoal restore` brings it back, and the tracker's purge releases
 * the pieces of versions past the policy on the real storage nodes.
 */
describe('shoal versions against a real network', { timeout: 240_000 }, () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    work = await tempDir('shoal-versions-')
    // The purge runs every second here (default: hourly), so the test waits on it, not on a schedule.
    net = await Testnet.start({
      nodes: 4,
      k: 2,
      m: 2,
      segmentSize: '1MiB',
      trackerArgs: ['--version-purge-interval', '1s']
    })
    env = {
      SHOAL_HOME: join(work.path, 'home'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: 'versions@example.com',
      SHOAL_PASSWORD: 'versions-password-1'
    }
    expect((await shoal(['signup'])).code).toBe(0)
  })

  afterAll(async () => {
    await net?.stop()
    await work?.cleanup()
  })

  const shoal = (args: string[]) => startShoal(args, { cwd: work.path, env }).done
  async function ok(args: string[]) {
    const run = await shoal(args)
    expect(run.code, run.stderr).toBe(0)
    return run
  }
  const versions = async () => JSON.parse((await ok(['versions', 'report.bin', '--json'])).stdout) as Listed[]
  /** Every piece file on every node. */
  const pieceFiles = async () =>
    (await Promise.all(net.nodes.map((n) => listFiles(join(n.dataDir, 'pieces'))))).flat().map((f) => basename(f))

  /** The piece CIDs of an object's first two segments, checked to be on the nodes' disks now. */
  async function storedPieces(objectId: string): Promise<string[]> {
    const client = await ShoalClient.login({
      tracker: net.tracker.url,
      email: env.SHOAL_EMAIL as string,
      password: env.SHOAL_PASSWORD as string
    })
    const grants = await client.tracker.downloadGrants(objectId, 0, 2)
    await client.stop()
    const cids = grants.segments.flatMap((s) => s.pieces.map((p) => p.cid))
    expect(cids.length).toBeGreaterThan(0)
    const stored = await pieceFiles()
    expect(cids.every((cid) => stored.includes(cid))).toBe(true)
    return cids
  }

  it('keeps, lists, downloads, restores and purges versions', async () => {
    const first = join(work.path, 'first.bin')
    const second = join(work.path, 'second.bin')
    const firstSha = await randomFile(first, 2 * MiB + 5)
    const secondSha = await randomFile(second, MiB + 3)
    await ok(['put', first, 'report.bin'])
    // The name rule is unchanged: a second put without --overwrite is refused and changes nothing.
    const refused = await shoal(['put', second, 'report.bin'])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/ERR_CONFLICT/)
    expect(await versions()).toHaveLength(1)
    await ok(['put', second, 'report.bin', '--overwrite'])

    const listed = await versions()
    expect(listed.map((v) => [v.size, v.current])).toEqual([
      [MiB + 3, true],
      [2 * MiB + 5, false]
    ])
    const [now, old] = listed as [Listed, Listed]
    const table = (await ok(['versions', 'report.bin'])).stdout.trim().split('\n')
    expect(table).toHaveLength(2)
    expect(table[0]).toMatch(new RegExp(`^\\* ${now.id} +1\\.0 MiB +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d$`))
    expect(table[1]).toMatch(new RegExp(`^  ${old.id} +2\\.0 MiB `))

    // The old bytes come back by version; the name alone gives the current ones.
    await ok(['get', 'report.bin', join(work.path, 'old.bin'), '--version', old.id])
    expect(await sha256File(join(work.path, 'old.bin'))).toBe(firstSha)
    await ok(['get', 'report.bin', join(work.path, 'now.bin')])
    expect(await sha256File(join(work.path, 'now.bin'))).toBe(secondSha)
    const missing = await shoal(['get', 'report.bin', join(work.path, 'x.bin'), '--version', 'AAAAAAAAAAAAAAAAAAAAAA'])
    expect(missing.stderr).toMatch(/has no version AAAAAAAAAAAAAAAAAAAAAA.*ERR_OBJECT_NOT_FOUND/)
    // Ids are base64url: one in 64 starts with "-", and is still read as the option's value.
    const dashed = await shoal(['get', 'report.bin', join(work.path, 'x.bin'), '--version', '-AAAAAAAAAAAAAAAAAAAAA'])
    expect(dashed.stderr).toMatch(/has no version -AAAAAAAAAAAAAAAAAAAAA.*ERR_OBJECT_NOT_FOUND/)

    // Versions are stored bytes: usage counts them.
    expect((await ok(['usage'])).stdout).toMatch(
      /Versions: keeping the last 10 older versions of each file for 30 days; 1 kept now, 2\.0 MiB/
    )

    // Restore: the old version is current again and the one it replaced is kept.
    await ok(['restore', 'report.bin', '--version', old.id])
    expect((await versions()).map((v) => [v.id, v.current])).toEqual([
      [old.id, true],
      [now.id, false]
    ])
    await ok(['get', 'report.bin', join(work.path, 'restored.bin')])
    expect(await sha256File(join(work.path, 'restored.bin'))).toBe(firstSha)
    const ls = JSON.parse((await ok(['ls', '--json'])).stdout) as { name: string; size: number }[]
    expect(ls.map((e) => [e.name, e.size])).toEqual([['report.bin', 2 * MiB + 5]])

    // The policy: keep no older versions. The tracker's purge deletes the replaced one and its pieces leave the
    // nodes (delete orders in their heartbeats).
    const versionPieces = await storedPieces(now.id)
    const bad = await shoal(['versions', '--policy', '--keep', 'lots'])
    expect(bad.code).toBe(2)
    expect((await ok(['versions', '--policy', '--keep', '0', '--days', 'none'])).stdout).toMatch(
      /keeping the last 0 older versions of each file for ever/
    )
    await waitFor('the version to be purged', async () => ((await versions()).length === 1 ? true : undefined))
    await waitFor('the nodes to delete its pieces', async () => {
      const left = await pieceFiles()
      return versionPieces.some((cid) => left.includes(cid)) ? undefined : true
    })
    // The current file is untouched.
    await ok(['get', 'report.bin', join(work.path, 'after.bin')])
    expect(await readFile(join(work.path, 'after.bin'))).toEqual(await readFile(first))
  })

  it('deletes one older version: its pieces leave the nodes, usage drops, the rest stays', async () => {
    await ok(['versions', '--policy', '--keep', '10', '--days', 'none'])
    const shas: string[] = []
    for (const [i, size] of [MiB + 1, MiB + 2, 300_001].entries()) {
      const file = join(work.path, `notes-${i}.bin`)
      shas.push(await randomFile(file, size))
      await ok(['put', file, 'notes.bin', ...(i === 0 ? [] : ['--overwrite'])])
    }
    const notes = async () => JSON.parse((await ok(['versions', 'notes.bin', '--json'])).stdout) as Listed[]
    const [now, middle, oldest] = (await notes()) as [Listed, Listed, Listed]
    expect([now.size, middle.size, oldest.size]).toEqual([300_001, MiB + 2, MiB + 1])
    const usage = async () =>
      JSON.parse((await ok(['usage', '--json'])).stdout) as {
        used: number
        versions: { versions: number; bytes: number }
      }
    const before = await usage()

    // The pieces of the version to delete, read before it goes.
    const middlePieces = await storedPieces(middle.id)

    // Bad input loses nothing: the current version is refused, an unknown id is not found.
    const current = await shoal(['versions', 'notes.bin', '--delete', now.id])
    expect(current.code).toBe(1)
    expect(current.stderr.trim().split('\n')).toHaveLength(1)
    expect(current.stderr).toMatch(/is the current one of "notes\.bin".*\(ERR_INVALID_INPUT\)/)
    const unknown = await shoal(['versions', 'notes.bin', '--delete', '-AAAAAAAAAAAAAAAAAAAAA'])
    expect(unknown.stderr).toMatch(/has no version -AAAAAAAAAAAAAAAAAAAAA.*ERR_OBJECT_NOT_FOUND/)
    expect((await notes()).map((v) => v.id)).toEqual([now.id, middle.id, oldest.id])

    const deleted = await ok(['versions', 'notes.bin', '--delete', middle.id])
    expect(deleted.stderr).toBe(`Deleted version ${middle.id} of notes.bin\n`)
    expect((await notes()).map((v) => v.id)).toEqual([now.id, oldest.id])
    const after = await usage()
    expect(after.used).toBe(before.used - (MiB + 2))
    expect(after.versions).toMatchObject({
      versions: before.versions.versions - 1,
      bytes: before.versions.bytes - (MiB + 2)
    })
    // The client deleted its pieces on the nodes straight away.
    const left = await pieceFiles()
    expect(middlePieces.some((cid) => left.includes(cid))).toBe(false)
    // The others are untouched.
    await ok(['get', 'notes.bin', join(work.path, 'notes-old.bin'), '--version', oldest.id])
    expect(await sha256File(join(work.path, 'notes-old.bin'))).toBe(shas[0])
    await ok(['get', 'notes.bin', join(work.path, 'notes-now.bin')])
    expect(await sha256File(join(work.path, 'notes-now.bin'))).toBe(shas[2])
  })
})
