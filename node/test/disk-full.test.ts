import { execFileSync } from 'node:child_process'
import { appendFile, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ErrorCode, GiB, KiB, MiB, PROTOCOL_PUT } from '@shoal/core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  call,
  type Defer,
  expectCode,
  expectOk,
  frame,
  put,
  randomPiece,
  startClient,
  startNode,
  Teardown,
  tempDir,
  waitFor
} from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

/** Mounting a tmpfs needs root (or CAP_SYS_ADMIN); without it these tests are skipped. */
async function probeMount(): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-mount-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' })
    execFileSync('umount', [dir], { stdio: 'ignore' })
    return true
  } catch {
    return false
  } finally {
    await rmdir(dir).catch(() => undefined)
  }
}
const canMount = await probeMount()

/** A 2 MiB filesystem of its own for the node's data folder. */
async function smallDisk(defer: Defer): Promise<string> {
  const dir = await tempDir(defer)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir])
  defer(() => execFileSync('umount', [dir]))
  return dir
}

/** Fills the filesystem holding `path` to the last page. */
async function fill(path: string): Promise<void> {
  for (const size of [64 * KiB, 4 * KiB, 512]) {
    const block = Buffer.alloc(size, 1)
    try {
      for (;;) await appendFile(path, block)
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOSPC') throw err
    }
  }
}

describe('disk full', () => {
  it.runIf(canMount)(
    'refuses a piece the disk cannot hold with ERR_DISK_FULL, writing nothing (needs root for mount -t tmpfs)',
    async () => {
      const dir = await smallDisk(teardown.defer)
      const fx = await startNode(teardown.defer, { dataDir: dir, capacity: 1 * GiB })
      const client = await startClient(teardown.defer)
      const piece = await randomPiece(3 * MiB)
      expectCode(
        await put(client, fx.node, { grant: await fx.grant('put', piece.id), piece: piece.id, bytes: piece.bytes }),
        ErrorCode.DISK_FULL
      )
      expect(await readdir(join(dir, 'tmp'))).toEqual([])
      expect(fx.node.stats.store).toMatchObject({ used: 0, reserved: 0, pieces: 0 })
    }
  )

  it.runIf(canMount)(
    'answers ERR_DISK_FULL when the disk fills up mid-write and removes the partial file (needs root for mount -t tmpfs)',
    async () => {
      const dir = await smallDisk(teardown.defer)
      const fx = await startNode(teardown.defer, { dataDir: dir, capacity: 1 * GiB })
      const client = await startClient(teardown.defer)
      const piece = await randomPiece(1536 * KiB)
      const filler = join(dir, 'filler')
      const grant = await fx.grant('put', piece.id)
      const parts = (async function* () {
        yield frame({ grant, piece: piece.id, size: piece.bytes.byteLength })
        yield piece.bytes.subarray(0, 128 * KiB)
        // The node has checked free space and opened its temporary file: now something else takes the disk.
        await waitFor(async () => (await readdir(join(dir, 'tmp'))).length === 1, 'temporary file')
        await fill(filler)
        yield piece.bytes.subarray(128 * KiB)
      })()
      expectCode(await call(client, fx.node.multiaddrs, PROTOCOL_PUT, parts), ErrorCode.DISK_FULL)
      expect(await readdir(join(dir, 'tmp'))).toEqual([])
      expect(fx.node.stats.store).toMatchObject({ used: 0, reserved: 0, pieces: 0 })

      // Once space is back the node takes pieces again.
      await rm(filler)
      const small = await randomPiece(64 * KiB)
      expectOk(
        await put(client, fx.node, { grant: await fx.grant('put', small.id), piece: small.id, bytes: small.bytes })
      )
    }
  )
})
