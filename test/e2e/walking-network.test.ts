import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ShoalClient, TrackerClient } from '@shoal/client'
import { ErrorCode, MiB, type ShoalError } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { fileSource, listFiles, randomFile, sha256Stream, tempDir } from './helpers.ts'

// The guarantee this file states: a file uploaded with k = 4 data and m = 2 parity pieces per segment comes
// back byte-identical while any m nodes are gone, fails with an error naming the missing pieces when more are
// gone, and survives every process restarting.
describe('walking network: 6 nodes, k=4 m=2', () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  let client: ShoalClient
  let bigSha: string
  const BIG = 64 * MiB
  const email = 'walker@example.com'
  const password = 'correct horse battery'

  beforeAll(async () => {
    work = await tempDir('shoal-e2e-')
    net = await Testnet.start({ nodes: 6, k: 4, m: 2, trackerArgs: ['--quota', '200MiB'] })
    bigSha = await randomFile(join(work.path, 'big.bin'), BIG)
    client = await ShoalClient.signup({ tracker: net.tracker.url, email, password })
  })

  afterAll(async () => {
    await client?.stop()
    await net?.stop()
    await work?.cleanup()
  })

  async function download(name: string) {
    const { object, stream } = await client.get(name)
    return { object, ...(await sha256Stream(stream)) }
  }

  it('uploads 64 MiB and downloads the same bytes', async () => {
    const object = await client.put('big.bin', fileSource(join(work.path, 'big.bin')), BIG)
    expect(object.size).toBe(BIG)
    const listed = await client.list()
    expect(listed.map((e) => [e.name, e.size])).toEqual([['big.bin', BIG]])
    const got = await download('big.bin')
    expect(got.size).toBe(BIG)
    expect(got.sha).toBe(bigSha)
  })

  it('the tracker holds no plaintext name or key: only sealed metadata', async () => {
    const raw = new TrackerClient({ url: net.tracker.url, token: client.session().token })
    const { objects } = await raw.listObjects()
    const text = JSON.stringify(objects)
    expect(text).not.toContain('big.bin')
    expect(text).not.toContain(client.session().masterKey)
  })

  it('the empty file round-trips', async () => {
    await client.put('empty', [], 0)
    const got = await download('empty')
    expect(got.size).toBe(0)
    expect(got.object.size).toBe(0)
  })

  it('a wrong password is refused with ERR_WRONG_PASSWORD', async () => {
    const err = (await ShoalClient.login({ tracker: net.tracker.url, email, password: 'not the password' }).catch(
      (e) => e
    )) as ShoalError
    expect(err.code).toBe(ErrorCode.WRONG_PASSWORD)
    const again = await ShoalClient.login({ tracker: net.tracker.url, email, password })
    expect((await again.list()).length).toBeGreaterThan(0)
  })

  it('an unknown object is ERR_OBJECT_NOT_FOUND', async () => {
    expect(((await client.get('no-such-file').catch((e) => e)) as ShoalError).code).toBe(ErrorCode.OBJECT_NOT_FOUND)
  })

  it('an upload over quota is refused before any byte moves, and nothing is reserved', async () => {
    const before = await client.usage()
    let pulled = 0
    async function* source() {
      pulled++
      yield new Uint8Array(1)
    }
    const err = (await client.put('too-big', source(), 150 * MiB).catch((e) => e)) as ShoalError
    expect(err.code).toBe(ErrorCode.QUOTA_EXCEEDED)
    expect(pulled).toBe(0)
    expect((await client.usage()).used).toBe(before.used)
  })

  it('a source shorter than announced fails the upload and leaves nothing behind', async () => {
    const before = await client.usage()
    const err = (await client.put('short', [new Uint8Array(1000)], 5000).catch((e) => e)) as ShoalError
    expect(err.code).toBe(ErrorCode.INVALID_INPUT)
    expect((await client.list()).map((e) => e.name)).not.toContain('short')
    expect((await client.usage()).used).toBe(before.used)
  })

  it('a node serving corrupt bytes is caught and the download is still correct', async () => {
    // Flip a byte in every piece file node 5 holds, behind its back.
    const files = await listFiles(join(net.nodes[5]!.dataDir, 'pieces'))
    expect(files.length).toBeGreaterThan(0)
    for (const file of files) {
      const bytes = await readFile(file)
      bytes[0] = bytes[0]! ^ 0xff
      await writeFile(file, bytes)
    }
    const got = await download('big.bin')
    expect(got.sha).toBe(bigSha)
    // Put node 5's pieces back so later tests count it as healthy.
    for (const file of files) {
      const bytes = await readFile(file)
      bytes[0] = bytes[0]! ^ 0xff
      await writeFile(file, bytes)
    }
  })

  it('with m = 2 nodes killed the download is byte-identical', async () => {
    await net.killNode(0)
    await net.killNode(1)
    const got = await download('big.bin')
    expect(got.sha).toBe(bigSha)
  })

  it('with one more node killed the download fails with an error naming the missing pieces', async () => {
    await net.killNode(2)
    const err = (await download('big.bin').catch((e) => e)) as ShoalError
    expect(err.code).toBe(ErrorCode.NOT_ENOUGH_PIECES)
    expect(err.message).toMatch(/segment \d+: only 3 of the 4 pieces/)
    for (const dead of [0, 1, 2]) expect(err.message).toContain(net.nodes[dead]!.peerId)
  })

  it('after every process restarts the file downloads again', async () => {
    await net.restartTracker()
    for (const i of [0, 1, 2]) await net.restartNode(i)
    for (const i of [3, 4, 5]) await net.restartNode(i)
    await net.waitForOnline()
    await client.stop()
    client = await ShoalClient.login({ tracker: net.tracker.url, email, password })
    const got = await download('big.bin')
    expect(got.sha).toBe(bigSha)
    expect((await client.list()).map((e) => e.name)).toEqual(['big.bin', 'empty'])
  })

  it('rm deletes the object and its pieces on the nodes', async () => {
    const before = (await Promise.all(net.nodes.map((n) => listFiles(join(n.dataDir, 'pieces'))))).flat().length
    const result = await client.remove('big.bin')
    expect(result.piecesPending).toBe(0)
    expect(result.piecesDeleted).toBeGreaterThan(0)
    const after = (await Promise.all(net.nodes.map((n) => listFiles(join(n.dataDir, 'pieces'))))).flat().length
    expect(before - after).toBe(result.piecesDeleted)
    expect((await client.list()).map((e) => e.name)).toEqual(['empty'])
    expect(((await client.get('big.bin').catch((e) => e)) as ShoalError).code).toBe(ErrorCode.OBJECT_NOT_FOUND)
  })
})
