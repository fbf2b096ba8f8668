import { randomBytes } from 'node:crypto'
import { SharedFile, ShoalClient } from '@shoal/client'
import { ErrorCode, formatShareFragment, parseShareFragment } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { codeOf, sha256Stream } from './helpers.ts'

describe('share links and renames through the client, on a real testnet', () => {
  let net: Testnet
  let owner: ShoalClient
  const bytes = randomBytes(3 * 1024 * 1024 + 17)
  const sha = (b: Uint8Array) =>
    sha256Stream(
      (async function* () {
        yield b
      })()
    )

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '1MiB' })
    owner = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'owner@example.com', password: 'owner password' },
      { codec: 'local' }
    )
    await owner.put('docs/report.bin', [bytes], bytes.byteLength, { mime: 'application/octet-stream' })
  })
  afterAll(async () => {
    await owner?.stop()
    await net?.stop()
  })

  it('opens a share in a client without an account, downloads the same bytes, and stops after revoke', async () => {
    const { share, fragment } = await owner.share('docs/report.bin')
    const shared = await SharedFile.open({ tracker: net.tracker.url, shareId: share.id, fragment, codec: 'local' })
    try {
      expect(shared.meta).toEqual({ name: 'report.bin', size: bytes.byteLength, mime: 'application/octet-stream' })
      expect(await sha256Stream(shared.download())).toEqual(await sha(bytes))
      await owner.revokeShare(share.id)
      expect(await codeOf(sha256Stream(shared.download()))).toBe(ErrorCode.SHARE_REVOKED)
      expect(
        await codeOf(SharedFile.open({ tracker: net.tracker.url, shareId: share.id, fragment, codec: 'local' }))
      ).toBe(ErrorCode.SHARE_REVOKED)
    } finally {
      await shared.stop()
    }
    expect((await owner.listShares()).find((s) => s.id === share.id)?.revokedAt).toBeTypeOf('number')
  })

  it('a shared file larger than one share-grant request downloads whole; an oversized request is refused', async () => {
    // 41 segments of 1 MiB: three batches of at most 16 segments, each asked for before the last one runs dry.
    const big = randomBytes(40 * 1024 * 1024 + 5)
    await owner.put('docs/big.bin', [big], big.byteLength, { mime: 'application/octet-stream' })
    const { share, fragment } = await owner.share('docs/big.bin')
    const shared = await SharedFile.open({ tracker: net.tracker.url, shareId: share.id, fragment, codec: 'local' })
    try {
      expect(await sha256Stream(shared.download())).toEqual(await sha(big))
    } finally {
      await shared.stop()
    }
    const response = await fetch(`${net.tracker.url}/v1/shares/${share.id}/grants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: 0, to: 17 })
    })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(ErrorCode.INVALID_INPUT)
  })

  it('needs the right password, and a tampered link opens nothing', async () => {
    const { share, fragment } = await owner.share('docs/report.bin', {
      password: 'share secret',
      expiresAt: Date.now() + 3_600_000
    })
    const open = (f: string, password?: string) =>
      SharedFile.open({
        tracker: net.tracker.url,
        shareId: share.id,
        fragment: f,
        codec: 'local',
        ...(password === undefined ? {} : { password })
      })
    expect(await codeOf(open(fragment))).toBe(ErrorCode.SHARE_PASSWORD)
    expect(await codeOf(open(fragment, 'wrong'))).toBe(ErrorCode.SHARE_PASSWORD)
    const shared = await open(fragment, 'share secret')
    try {
      expect(await sha256Stream(shared.download())).toEqual(await sha(bytes))
    } finally {
      await shared.stop()
    }

    // A link whose key was changed: refused before any byte is fetched.
    const plain = await owner.share('docs/report.bin')
    const parsed = parseShareFragment(plain.fragment)
    if (parsed.kind !== 'key') throw new Error('expected a plain key')
    parsed.key[0] = (parsed.key[0] ?? 0) ^ 1
    const tampered = formatShareFragment(parsed)
    expect(
      await codeOf(SharedFile.open({ tracker: net.tracker.url, shareId: plain.share.id, fragment: tampered }))
    ).toBe(ErrorCode.DECRYPT_FAILED)
    expect(
      await codeOf(SharedFile.open({ tracker: net.tracker.url, shareId: plain.share.id, fragment: '#k=short' }))
    ).toBe(ErrorCode.INVALID_INPUT)
  })

  it('renames and moves a file without moving its pieces; a taken name is refused', async () => {
    await owner.put('notes.txt', [new TextEncoder().encode('hello')], 5)
    const moved = await owner.rename('notes.txt', 'archive/notes-2024.txt', { trash: { from: 'x', at: 1 } })
    expect(moved.name).toBe('archive/notes-2024.txt')
    const names = (await owner.list()).map((e) => e.name)
    expect(names).toContain('archive/notes-2024.txt')
    expect(names).not.toContain('notes.txt')
    const { stream } = await owner.get('archive/notes-2024.txt')
    expect(await sha256Stream(stream)).toEqual(await sha(new TextEncoder().encode('hello')))
    expect((await owner.list()).find((e) => e.name === 'archive/notes-2024.txt')?.meta.trash).toEqual({
      from: 'x',
      at: 1
    })
    const back = await owner.rename('archive/notes-2024.txt', 'notes.txt', { trash: null })
    expect(back.meta.trash).toBeUndefined()
    expect(await codeOf(owner.rename('notes.txt', 'docs/report.bin'))).toBe(ErrorCode.CONFLICT)
    expect(await codeOf(owner.rename('missing.txt', 'x'))).toBe(ErrorCode.OBJECT_NOT_FOUND)
  })

  it('the SDK refuses names that would make empty or unreachable folders, and changes nothing', async () => {
    const before = (await owner.list()).map((e) => e.name).sort()
    const hello = new TextEncoder().encode('hello')
    for (const bad of ['a//b.txt', '/a.txt', 'a/../b.txt', 'a/./b.txt', '', 'tab\there.txt']) {
      expect(await codeOf(owner.put(bad, [hello], hello.length)), bad).toBe(ErrorCode.INVALID_INPUT)
      expect(await codeOf(owner.rename('notes.txt', bad)), bad).toBe(ErrorCode.INVALID_INPUT)
    }
    expect((await owner.list()).map((e) => e.name).sort()).toEqual(before)
    // A folder marker and a nested path are fine.
    await owner.put('empty folder/', [], 0)
    expect((await owner.list()).map((e) => e.name)).toContain('empty folder/')
  })
})
