import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type DownloadEvent, ReceiptSigner, ShoalClient, TrackerClient } from '@shoal/client'
import { type DownloadGrantsResponse, ErrorCode, MiB, type OpenObjectResponse, ShoalError } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet, type TestnetInit } from '../src/index.ts'
import { codeOf, listFiles, sha256Stream } from './helpers.ts'

const SEG = 1 * MiB
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of stream) parts.push(c)
  return Buffer.concat(parts)
}

/** Runs `body` while every piece a node holds (its data directory) has one byte flipped behind its back. */
async function withCorruptPieces(dataDir: string, body: () => Promise<void>): Promise<void> {
  const files = await listFiles(join(dataDir, 'pieces'))
  const originals = await Promise.all(files.map((f) => readFile(f)))
  try {
    for (const [i, file] of files.entries()) {
      const bytes = Buffer.from(originals[i]!)
      bytes[bytes.length >> 1]! ^= 0x01
      await writeFile(file, bytes)
    }
    await body()
  } finally {
    await Promise.all(files.map((f, i) => writeFile(f, originals[i]!)))
  }
}

/**
 * A testnet, and an account on it holding `name` (`data`), for the describe block this is called in: started
 * before its tests, stopped after them.
 */
function networkWithFile(init: TestnetInit, name: string, data: Uint8Array, email: string) {
  const t = {} as { net: Testnet; client: ShoalClient }
  beforeAll(async () => {
    t.net = await Testnet.start(init)
    t.client = await ShoalClient.signup({ tracker: t.net.tracker.url, email, password: `${email} password` })
    await t.client.put(name, [data], data.byteLength)
  })
  afterAll(async () => {
    await t.client?.stop()
    await t.net?.stop()
  })
  return t
}

describe('transfer engine on a healthy network (7 nodes, 4+2, 1 MiB segments)', () => {
  const data = randomBytes(5 * SEG + SEG / 2)
  const t = networkWithFile({ nodes: 7, k: 4, m: 2, segmentSize: '1MiB' }, 'data.bin', data, 'engine@example.com')

  it('serves any byte range, including ranges at and across segment edges', async () => {
    const size = data.byteLength
    const ranges: [number, number][] = [
      [0, 1],
      [SEG - 1, 2],
      [SEG, SEG],
      [SEG + 1, 10],
      [3 * SEG - 5, SEG + 10],
      [size - 1, 1],
      [size - SEG / 2, SEG / 2],
      [0, size],
      [size, 0]
    ]
    for (const [offset, length] of ranges) {
      const { stream } = await t.client.get('data.bin', { offset, length })
      const got = await collect(stream)
      expect(got.equals(data.subarray(offset, offset + length)), `range ${offset}+${length}`).toBe(true)
    }
    const err = (await collect((await t.client.get('data.bin', { offset: size + 1 })).stream).catch(
      (e) => e
    )) as ShoalError
    expect(err.code).toBe(ErrorCode.INVALID_INPUT)
  })

  it('cancels: an aborted download stops with the abort, an early break stops cleanly, the next one works', async () => {
    const controller = new AbortController()
    const { stream } = await t.client.get('data.bin', { signal: controller.signal, segmentWindow: 2 })
    let chunks = 0
    const err = await (async () => {
      for await (const _ of stream) {
        chunks++
        controller.abort(new Error('user cancelled'))
      }
    })().catch((e: Error) => e)
    expect(chunks).toBe(1)
    expect((err as Error).message).toBe('user cancelled')

    const early = (await t.client.get('data.bin')).stream
    for await (const _ of early) break

    expect(sha(await collect((await t.client.get('data.bin')).stream))).toBe(sha(data))
  })

  it('the codec runs the same on the calling thread as on worker threads', async () => {
    const local = await ShoalClient.resume(t.client.session(), { codec: 'local' })
    try {
      expect(sha(await collect((await local.get('data.bin')).stream))).toBe(sha(data))
      await local.put('local.bin', [data.subarray(0, 2 * SEG + 3)], 2 * SEG + 3)
      expect(sha(await collect((await t.client.get('local.bin')).stream))).toBe(sha(data.subarray(0, 2 * SEG + 3)))
    } finally {
      await local.stop()
    }
  })

  it('resumes an interrupted upload at segment granularity without resending committed segments', async () => {
    const big = randomBytes(8 * SEG)
    const controller = new AbortController()
    let uploadId: string | undefined
    const first = await t.client
      .put('resume.bin', [big], big.byteLength, {
        signal: controller.signal,
        segmentWindow: 1,
        onStarted: (id) => {
          uploadId = id
        },
        onProgress: (p) => {
          if (p.bytes >= 3 * SEG) controller.abort(new Error('network lost'))
        }
      })
      .catch((e: Error) => e)
    expect((first as Error).message).toBe('network lost')
    expect(uploadId).toBeDefined()
    const status = await t.client.tracker.uploadStatus(uploadId!)
    expect(status.committed.length).toBeGreaterThanOrEqual(3)
    expect(status.committed.length).toBeLessThan(8)

    let wire = 0
    await t.client.put('resume.bin', [big], big.byteLength, {
      resume: uploadId!,
      onProgress: (p) => {
        wire = p.wireBytes
      }
    })
    const fullWire = 8 * 6 * Math.ceil((SEG + 16) / 4)
    expect(wire).toBeLessThanOrEqual(fullWire - status.committed.length * 6 * Math.ceil((SEG + 16) / 4))
    expect(sha(await collect((await t.client.get('resume.bin')).stream))).toBe(sha(big))

    const wrongFile = (await t.client
      .put('other.bin', [big], big.byteLength, { resume: uploadId! })
      .catch((e) => e)) as ShoalError
    expect(wrongFile.code).toMatch(/ERR_CONFLICT|ERR_UPLOAD_NOT_FOUND/)
  })

  it('an upload survives a node killed mid-upload: its pieces move to another node with fresh grants', async () => {
    const big = randomBytes(6 * SEG)
    let killed: Promise<void> | undefined
    await t.client.put('moving.bin', [big], big.byteLength, {
      segmentWindow: 1,
      onProgress: (p) => {
        if (p.bytes >= SEG && killed === undefined) killed = t.net.killNode(6)
      }
    })
    await killed
    const info = await t.client.stat('moving.bin')
    const { segments } = await t.client.tracker.downloadGrants(info.id, 0, info.segmentCount)
    const dead = t.net.nodes[6]!.peerId
    // Segments stored after the kill hold no piece on the dead node.
    expect(segments.slice(2).every((s) => s.pieces.every((p) => p.node.peerId !== dead))).toBe(true)
    expect(sha(await collect((await t.client.get('moving.bin')).stream))).toBe(sha(big))
    await t.net.restartNode(6)
    await t.net.waitForOnline()
  })

  it('downloads through a tracker older than the first call: the object, then its grants, as before', async () => {
    const tracker = new WithoutOpenCall({ url: t.net.tracker.url })
    const fresh = await ShoalClient.resume(t.client.session(), { trackerClient: tracker })
    try {
      const { stream } = await fresh.get('data.bin')
      expect(sha(await collect(stream))).toBe(sha(data))
      expect(tracker.openCalls).toBe(1)
      // A name that is not there is still said as such.
      expect(await codeOf(fresh.get('no-such-file'))).toBe(ErrorCode.OBJECT_NOT_FOUND)
    } finally {
      await fresh.stop()
    }
  })

  it('finds a restarted node through the DHT when the placement it holds is stale', async () => {
    const info = await t.client.stat('data.bin')
    // Get grants must name a receipt key (nodes refuse them otherwise, docs/security.md).
    const stale: DownloadGrantsResponse = await t.client.tracker.downloadGrants(info.id, 0, info.segmentCount, {
      receiptKey: (await ReceiptSigner.create()).receiptKey
    })
    // Node 0 restarts on new ports; nodes 1 and 2 are gone, so node 0's pieces are needed for every segment.
    await t.net.restartNode(0)
    await t.net.killNode(1)
    await t.net.killNode(2)
    try {
      const tracker = new StaleGrants(t.net.tracker.url, stale)
      const fresh = await ShoalClient.resume(t.client.session(), { trackerClient: tracker })
      const events: DownloadEvent[] = []
      try {
        const { stream } = await fresh.get('data.bin', { onEvent: (e) => events.push(e) })
        expect(sha(await collect(stream))).toBe(sha(data))
      } finally {
        await fresh.stop()
      }
      // Node 0 was reached at its new address, found by the engine's DHT lookup (a 'relocated' event: the
      // transfer peer runs no DHT, so nothing else can learn the address), and served pieces, without which some
      // segments would have too few.
      const restarted = t.net.nodes[0]!.peerId
      expect(events.some((e) => e.type === 'piece' && e.node === restarted)).toBe(true)
      const relocated = events.filter((e) => e.type === 'relocated')
      expect(relocated.length).toBeGreaterThan(0)
      expect(relocated.every((e) => e.node === restarted)).toBe(true)
    } finally {
      await t.net.restartNode(1)
      await t.net.restartNode(2)
      await t.net.waitForOnline()
    }
  })
})

/** A tracker older than the download's first call: that route does not exist there ("no route"). */
class WithoutOpenCall extends TrackerClient {
  openCalls = 0
  override async openObject(): Promise<OpenObjectResponse> {
    this.openCalls++
    throw new ShoalError(ErrorCode.NOT_FOUND, 'no route POST /v1/objects/by-name/:nameHash/grants')
  }
}

/** A tracker client that answers download-grant requests with grants fetched earlier: an outdated placement. */
class StaleGrants extends TrackerClient {
  readonly #grants: DownloadGrantsResponse
  constructor(url: string, grants: DownloadGrantsResponse) {
    super({ url })
    this.#grants = grants
  }
  override async downloadGrants(_id: string, from: number, to: number): Promise<DownloadGrantsResponse> {
    return { segments: this.#grants.segments.filter((s) => s.index >= from && s.index < to) }
  }
  /** A download's first call: the object as it is, its first grants as they were. */
  override async openObject(
    nameHash: string,
    first: number,
    options?: Parameters<TrackerClient['openObject']>[2]
  ): Promise<OpenObjectResponse> {
    const { object } = await super.openObject(nameHash, first, options)
    return { object, ...(await this.downloadGrants(object.id, 0, first)) }
  }
}

/*
 * A corrupt piece is caught only when the decode uses it (the segment's AES-GCM tag fails): on a busy machine every
 * piece may arrive before the decode, which needs only k of them and may not read node 5's, so a test that hoped
 * for node 5's piece to be used raced (it failed CI at 8899d02, load ~10-40, in 5 tries). Here it is always used.
 * The replacement of a piece found corrupt at decode may be one whose grant was already sent: a request that was
 * cancelled when the first k pieces arrived. Nodes refuse a grant's serial twice, so the replacement needs a new
 * grant. Made certain here, not left to a race: nodes 0 and 1 send at 25 KB/s (a 256 KiB piece takes them 10 s),
 * so with every holder asked at once the first four pieces are those of nodes 2-5, node 5's is corrupt, and the
 * pieces left are the slow nodes', asked for and cancelled already.
 */
describe('a corrupt piece whose replacement was already asked for (6 nodes 4+2; nodes 0 and 1 slow; node 5 corrupt)', () => {
  const data = randomBytes(SEG)
  const t = networkWithFile(
    {
      nodes: 6,
      k: 4,
      m: 2,
      segmentSize: '1MiB',
      nodeArgs: (i) => (i < 2 ? ['--egress-limit', '25KB/s'] : [])
    },
    'one-segment.bin',
    data,
    'regrant@example.com'
  )

  it('is dropped and its node reported; the piece is fetched again under a fresh grant; the download is correct', async () => {
    await withCorruptPieces(t.net.nodes[5]!.dataDir, async () => {
      const events: DownloadEvent[] = []
      const { stream } = await t.client.get('one-segment.bin', {
        onEvent: (e) => events.push(e),
        extraPieces: 2,
        segmentWindow: 1
      })
      expect(sha(await collect(stream))).toBe(sha(data))
      const seen = events.map((e) => `${e.type}:${'piece' in e ? e.piece : ''}`).join(' ')
      const corrupt = events.filter((e) => e.type === 'failure' && e.code === ErrorCode.PIECE_CORRUPT)
      expect(
        corrupt.map((e) => 'node' in e && e.node),
        seen
      ).toEqual([t.net.nodes[5]!.peerId])
      const asked = events.flatMap((e) => (e.type === 'request' ? [e.piece] : []))
      const askedTwice = asked.filter((piece, i) => asked.indexOf(piece) !== i)
      expect(askedTwice.length, seen).toBeGreaterThan(0)
    })
  }, 60_000)
})

/*
 * 25 KB/s, not 100: at 100 KB/s a piece took 2.6 s, and under CI load fast pieces took a second or more, so the
 * slow node's requests could end before their hedge timer (twice the median), or find every other holder
 * already taken by hedges of the others, and the test saw no hedge of the slow node.
 */
describe('transfer engine with a slow node (node 0 capped at 25 KB/s: a piece takes it 10 s)', () => {
  const data = randomBytes(8 * SEG)
  const t = networkWithFile(
    {
      nodes: 6,
      k: 4,
      m: 2,
      segmentSize: '1MiB',
      nodeArgs: (i) => (i === 0 ? ['--egress-limit', '25KB/s'] : [])
    },
    'data.bin',
    data,
    'slow@example.com'
  )

  it('hedges around the slow node and takes most pieces from the fast ones', async () => {
    const events: DownloadEvent[] = []
    const { stream } = await t.client.get('data.bin', { onEvent: (e) => events.push(e), extraPieces: 0 })
    expect(sha(await collect(stream))).toBe(sha(data))
    const slow = t.net.nodes[0]!.peerId
    const seen = events.map((e) => `${e.type}:${'node' in e && e.node === slow ? 'slow' : 'fast'}`).join(' ')
    expect(
      events.some((e) => e.type === 'hedge' && e.node === slow),
      seen
    ).toBe(true)
    const pieces = events.filter((e) => e.type === 'piece')
    const fromSlow = pieces.filter((e) => e.node === slow).length
    expect(fromSlow).toBeLessThan(pieces.length / 6)
  })

  it('asks each node for one piece at a time: a segment waits for a free holder instead of queueing', async () => {
    /** The most requests any node had at once, from the engine's own events. */
    const busiest = async (requestsPerNode?: number): Promise<number> => {
      const open = new Map<string, number>()
      let most = 0
      const { stream } = await t.client.get('data.bin', {
        ...(requestsPerNode === undefined ? {} : { requestsPerNode }),
        onEvent: (e) => {
          if (!('node' in e) || e.type === 'hedge' || e.type === 'relocated') return
          const n = (open.get(e.node) ?? 0) + (e.type === 'request' ? 1 : -1)
          open.set(e.node, n)
          most = Math.max(most, n)
        }
      })
      expect(sha(await collect(stream))).toBe(sha(data))
      expect([...open.values()].every((n) => n === 0)).toBe(true)
      return most
    }
    expect(await busiest()).toBe(1)
    // The limit is what holds it: with two allowed, some node serves two pieces at once.
    expect(await busiest(2)).toBe(2)
  })

  it('survives a node killed while it is sending a piece', async () => {
    const events: DownloadEvent[] = []
    let killed: Promise<void> | undefined
    const { stream } = await t.client.get('data.bin', {
      onEvent: (e) => {
        events.push(e)
        // By the first finished piece, the slow node is mid-piece: kill it there.
        if (e.type === 'piece' && killed === undefined) killed = t.net.killNode(0)
      }
    })
    const got = await sha256Stream(stream)
    await killed
    expect(got.sha).toBe(sha(data))
  })
})

describe('transfer engine on a network with no spare node (4 nodes, 2+2)', () => {
  let net: Testnet
  let client: ShoalClient

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 4, k: 2, m: 2, segmentSize: '1MiB' })
    client = await ShoalClient.signup({ tracker: net.tracker.url, email: 'tight@example.com', password: 'tight-net-1' })
  })

  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  it('two nodes dying mid-upload and coming back cost a pause, not the upload', async () => {
    const big = randomBytes(6 * SEG)
    const lines: string[] = []
    let outage: Promise<unknown> | undefined
    const logging = await ShoalClient.login(
      { tracker: net.tracker.url, email: 'tight@example.com', password: 'tight-net-1' },
      { log: (line) => lines.push(line) }
    )
    try {
      await logging.put('blip.bin', [big], big.byteLength, {
        segmentWindow: 1,
        onProgress: (p) => {
          // Back on new ports a moment later, as after a crash and a supervisor's restart.
          if (p.bytes >= SEG && outage === undefined) {
            outage = Promise.all([net.killNode(2), net.killNode(3)]).then(() =>
              Promise.all([net.restartNode(2), net.restartNode(3)])
            )
          }
        }
      })
      await outage
    } finally {
      await logging.stop()
    }
    // Setting the two dead nodes aside left too few: the upload waited and tried them again.
    expect(lines.some((l) => l.includes('no nodes left besides the 2 that failed'))).toBe(true)
    expect(sha(await collect((await client.get('blip.bin')).stream))).toBe(sha(big))
    await net.waitForOnline()
  })

  it('nodes that stay away stop the upload with ERR_NOT_ENOUGH_NODES; it resumes once they are back', async () => {
    const big = randomBytes(4 * SEG)
    let uploadId: string | undefined
    let down: Promise<unknown> | undefined
    const failed = (await client
      .put('away.bin', [big], big.byteLength, {
        segmentWindow: 1,
        retryPauseMs: 200,
        onStarted: (id) => {
          uploadId = id
        },
        onProgress: (p) => {
          if (p.bytes >= SEG && down === undefined) down = Promise.all([net.killNode(2), net.killNode(3)])
        }
      })
      .catch((e: unknown) => e)) as ShoalError
    await down
    expect(failed.code).toBe(ErrorCode.NOT_ENOUGH_NODES)
    expect(uploadId).toBeDefined()
    await Promise.all([net.restartNode(2), net.restartNode(3)])
    await net.waitForOnline()
    await client.put('away.bin', [big], big.byteLength, { resume: uploadId! })
    expect(sha(await collect((await client.get('away.bin')).stream))).toBe(sha(big))
  })
})
