import { KiB } from '@shoal/core'
import { afterEach, describe, expect, it } from 'vitest'
import { expectOk, put, randomPiece, startClient, startNode, Teardown, waitFor } from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

describe('DHT', () => {
  it('announces a stored piece so that another node finds its provider', async () => {
    const a = await startNode(teardown.defer)
    // b knows a only through its bootstrap list: no public bootstrap, no tracker.
    const b = await startNode(teardown.defer, { bootstrap: a.node.multiaddrs.map(String) })
    await waitFor(() => b.node.libp2p.getConnections(a.node.peerId).length > 0, 'b connected to a')

    const client = await startClient(teardown.defer)
    const piece = await randomPiece(8 * KiB)
    expectOk(await put(client, a.node, { grant: await a.grant('put', piece.id), piece: piece.id, bytes: piece.bytes }))

    const provider = await waitFor(
      async () => {
        try {
          for await (const info of b.node.libp2p.contentRouting.findProviders(piece.cid, {
            signal: AbortSignal.timeout(5_000)
          })) {
            if (info.id.equals(a.node.peerId)) return info
          }
        } catch {
          // Not announced yet, or the routing tables are still filling.
        }
        return undefined
      },
      'a found as provider',
      45_000
    )
    expect(provider.id.toString()).toBe(a.node.peerId.toString())
    // Announcing waits for a quiet moment after the last put (PROVIDE_QUIET_MS), then happens by itself.
    await waitFor(() => a.node.stats.announced >= 1, 'the piece announced', 15_000)

    // After a restart the node announces what it already holds, in the background.
    await a.node.stop()
    await a.node.start()
    await b.node.libp2p.dial(a.node.multiaddrs)
    await waitFor(() => a.node.stats.announced >= 1, 're-announce after restart', 45_000)
  })
})
