import { randomBytes } from 'node:crypto'
import { type DownloadEvent, ShoalClient } from '@shoal/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { sha256Stream } from './helpers.ts'

const MiB = 1024 * 1024

/**
 * Issue 15: "the client keeps redialling dead nodes". A client that failed to dial a node in one download does
 * not dial it again in the next (each download used to start with a fresh scoreboard, so every download, and
 * every ranged read of a video, waited on the dead node's dial and, in a browser, logged a failed WebSocket).
 */
describe('a client remembers nodes it could not dial', { timeout: 180_000 }, () => {
  let net: Testnet
  let client: ShoalClient
  const bytes = randomBytes(4 * MiB + 3)
  const sha = () =>
    sha256Stream(
      (async function* () {
        yield bytes
      })()
    )

  beforeAll(async () => {
    // The tracker counts a killed node as online for an hour here, so its grants still name it first: what a
    // client meets in the minute before the tracker notices, made to last the whole test.
    net = await Testnet.start({ nodes: 5, k: 2, m: 2, segmentSize: '1MiB', offlineAfter: '1h' })
    client = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'dead-nodes@example.com', password: 'dead nodes password' },
      { codec: 'local' }
    )
    await client.put('big.bin', [bytes], bytes.length)
  })
  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  /** Downloads the file and says which nodes the engine sent requests to. */
  async function download(): Promise<{ sha: Awaited<ReturnType<typeof sha256Stream>>; asked: string[] }> {
    const asked: string[] = []
    const onEvent = (e: DownloadEvent): void => {
      if (e.type === 'request') asked.push(e.node)
    }
    const { stream } = await client.get('big.bin', { onEvent })
    return { sha: await sha256Stream(stream), asked }
  }

  it('asks a dead node in one download, then downloads around it without asking it again', async () => {
    // Kill the holders of segment 0's data pieces: the ones a download asks first.
    const info = await client.stat('big.bin')
    const grants = await client.tracker.downloadGrants(info.id, 0, 1)
    const first = (grants.segments[0]?.pieces ?? []).filter((p) => p.index < 2).map((p) => p.node.peerId)
    expect(first).toHaveLength(2)
    const dead = net.nodes.flatMap((n, i) => (first.includes(n.peerId) ? [i] : []))
    for (const i of dead) await net.killNode(i)

    const one = await download()
    expect(one.sha).toEqual(await sha())
    // The first download asked the dead nodes (their requests hang until hedged around and cancelled, or fail)...
    expect(one.asked.some((node) => first.includes(node))).toBe(true)
    // ...and the next two never ask them again: every piece comes from the nodes left.
    for (let i = 0; i < 2; i++) {
      const again = await download()
      expect(again.sha).toEqual(await sha())
      expect(again.asked.filter((node) => first.includes(node))).toEqual([])
    }
  })

  it('an upload that met the dead nodes leaves them out of the next upload from the first placement', async () => {
    // Still dead (the first test killed them) and still online as far as the tracker knows. A client of its own,
    // so that it learns about them from its uploads.
    const dead = net.nodes.filter((n) => !n.running).map((n) => n.peerId)
    expect(dead).toHaveLength(2)
    const lines: string[] = []
    const uploader = await ShoalClient.login(
      { tracker: net.tracker.url, email: 'dead-nodes@example.com', password: 'dead nodes password' },
      { codec: 'local', log: (line) => lines.push(line) }
    )
    try {
      const mentionsDead = () => lines.filter((line) => dead.some((peerId) => line.includes(peerId)))
      const small = randomBytes(300_000)
      // The first upload pushes to them, fails there and stores each segment on the nodes left.
      const first = await uploader.put('first.bin', [small], small.length)
      expect(first.degraded).toBeDefined()
      expect(mentionsDead().length).toBeGreaterThan(0)
      // The next one asks the tracker for the other nodes at once: no push to a dead node, nothing to retry.
      lines.length = 0
      const second = await uploader.put('second.bin', [small], small.length)
      expect(second.degraded).toBeDefined()
      expect(mentionsDead()).toEqual([])
      expect(lines.filter((line) => /attempt \d+ stored/.test(line))).toEqual([])
      const { stream } = await uploader.get('second.bin')
      expect(await sha256Stream(stream)).toEqual(
        await sha256Stream(
          (async function* () {
            yield small
          })()
        )
      )
    } finally {
      await uploader.stop()
    }
  })
})
