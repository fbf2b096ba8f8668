import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type DownloadEvent, ShoalClient } from '@shoal/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { listFiles } from './helpers.ts'

const MiB = 1024 * 1024
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/**
 * The first segment in halves (docs/transfer-engine.md, "The first segment in halves"): with 2k holders, k send
 * the first half of their piece and k the second, and the segment is rebuilt column by column. These downloads
 * state that it is taken, that a dead half-holder costs a half from another holder, and that a corrupt half
 * costs a whole-piece fetch of the segment, never wrong bytes.
 */
describe('the first segment in halves (8 nodes, 4+4, 2 MiB segments)', { timeout: 180_000 }, () => {
  let net: Testnet
  const data = randomBytes(5 * MiB + 12_345)
  const password = 'first segment password'

  beforeAll(async () => {
    // A killed node stays "online" for the tracker: its grants keep naming it, as in the minute before it notices.
    net = await Testnet.start({ nodes: 8, k: 4, m: 4, segmentSize: '2MiB', offlineAfter: '1h' })
    const client = await ShoalClient.signup({ tracker: net.tracker.url, email: 'halves@example.com', password })
    try {
      await client.put('data.bin', [data], data.byteLength)
    } finally {
      await client.stop()
    }
  })
  afterAll(async () => {
    await net?.stop()
  })

  /** A download by a fresh client (no memory of dead nodes), with the engine's events. */
  async function download(): Promise<{ bytes: Buffer; events: DownloadEvent[] }> {
    const client = await ShoalClient.login({ tracker: net.tracker.url, email: 'halves@example.com', password })
    try {
      const events: DownloadEvent[] = []
      const { stream } = await client.get('data.bin', { onEvent: (e) => events.push(e) })
      const parts: Uint8Array[] = []
      for await (const chunk of stream) parts.push(chunk)
      return { bytes: Buffer.concat(parts), events }
    } finally {
      await client.stop()
    }
  }

  /** Segment 0's requests: `half` is 0 or 1 for a half (by its offset), undefined for a whole piece. */
  function firstSegmentRequests(events: DownloadEvent[]): { piece: number; node: string; half?: number }[] {
    return events.flatMap((e) =>
      e.type === 'request' && e.segment === 0
        ? [{ piece: e.piece, node: e.node, ...(e.range === undefined ? {} : { half: e.range.offset === 0 ? 0 : 1 }) }]
        : []
    )
  }

  it('asks all eight holders for half a piece each, and only them', async () => {
    const { bytes, events } = await download()
    expect(sha(bytes)).toBe(sha(data))
    const asked = firstSegmentRequests(events)
    expect(asked).toHaveLength(8)
    expect(new Set(asked.map((r) => r.node)).size).toBe(8)
    expect(asked.filter((r) => r.half === 0)).toHaveLength(4)
    expect(asked.filter((r) => r.half === 1)).toHaveLength(4)
    // Later segments go in whole pieces.
    expect(events.some((e) => e.type === 'request' && e.segment > 0 && e.range !== undefined)).toBe(false)
  })

  it('a dead half-holder: its half comes from a holder of the other half, under a fresh grant', async () => {
    const dead = 2
    await net.killNode(dead)
    try {
      const { bytes, events } = await download()
      expect(sha(bytes)).toBe(sha(data))
      const deadId = net.nodes[dead]!.peerId
      const asked = firstSegmentRequests(events)
      // It was asked for a half (it fails, or hangs until hedged around) and delivered nothing.
      expect(asked.some((r) => r.node === deadId)).toBe(true)
      expect(events.some((e) => e.type === 'piece' && e.node === deadId)).toBe(false)
      expect(asked.every((r) => r.half !== undefined)).toBe(true)
      // The half the dead node owed was asked of a node that was also asked for the other half: its grant had
      // been used once already, so the node would have refused it without a fresh one.
      const both = asked.filter((r) => asked.some((o) => o.node === r.node && o.half !== r.half))
      expect(both.length).toBeGreaterThan(0)
    } finally {
      await net.restartNode(dead)
      await net.waitForOnline()
    }
  })

  it('a holder sending corrupt bytes: the halves fail authentication and the segment comes in whole pieces', async () => {
    const bad = 5
    const files = await listFiles(join(net.nodes[bad]!.dataDir, 'pieces'))
    const originals = await Promise.all(files.map((f) => readFile(f)))
    try {
      // A flipped byte in each half of every piece it holds: whichever half it is asked for is wrong.
      for (const [i, file] of files.entries()) {
        const bytes = Buffer.from(originals[i]!)
        for (const at of [bytes.length >> 2, (3 * bytes.length) >> 2]) bytes[at]! ^= 0x01
        await writeFile(file, bytes)
      }
      const { bytes, events } = await download()
      expect(sha(bytes)).toBe(sha(data))
      const asked = firstSegmentRequests(events)
      expect(asked.slice(0, 8).every((r) => r.half !== undefined)).toBe(true)
      expect(asked.slice(8).length).toBeGreaterThanOrEqual(4)
      expect(asked.slice(8).every((r) => r.half === undefined)).toBe(true)
    } finally {
      await Promise.all(files.map((f, i) => writeFile(f, originals[i]!)))
    }
  })
})
