import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ShoalClient } from '@shoal/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { listFiles, waitFor } from './helpers.ts'

/**
 * A node takes at most 32 delete streams from one connection at once (node/src/constants.ts). `rm` of a file
 * with more pieces than that on one node sent them all at once: the rest were refused and left to the nodes'
 * heartbeats ("192 pieces will be removed when their nodes come back" on a healthy network).
 */
describe('rm of a file with many pieces per node', { timeout: 120_000 }, () => {
  let net: Testnet
  let client: ShoalClient

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '64KiB' })
    client = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'many-pieces@example.com', password: 'many pieces password' },
      { codec: 'local' }
    )
  })
  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  const stored = async (indexes = [0, 1, 2]) =>
    (await Promise.all(indexes.map((i) => listFiles(join(net.nodes[i]!.dataDir, 'pieces'))))).flat().length

  it('deletes every piece on the nodes at once, none left for the heartbeats', async () => {
    // 48 segments of 3 pieces: 48 pieces on each node.
    const bytes = randomBytes(48 * 64 * 1024 - 100)
    await client.put('many.bin', [bytes], bytes.byteLength)
    const before = await stored()
    expect(before).toBe(144)
    const result = await client.remove('many.bin')
    expect(result).toEqual({ piecesDeleted: 144, piecesPending: 0 })
    expect(await stored()).toBe(0)
  })

  it("leaves a dead node's pieces to its heartbeats and deletes the others at once", async () => {
    const bytes = randomBytes(48 * 64 * 1024 - 100)
    await client.put('again.bin', [bytes], bytes.byteLength)
    expect(await stored()).toBe(144)
    await net.killNode(2)
    const result = await client.remove('again.bin')
    expect(result).toEqual({ piecesDeleted: 96, piecesPending: 48 })
    expect(await stored([0, 1])).toBe(0)
    expect(await stored([2])).toBe(48)
    // Back online, the node gets the delete orders with its heartbeat and carries them out.
    await net.restartNode(2)
    await waitFor('the restarted node to drop its pieces', async () => ((await stored([2])) === 0 ? true : undefined))
  })
})
