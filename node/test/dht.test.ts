import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { startNode, Teardown, waitFor } from './helpers.ts'

const teardown = new Teardown()

describe('DHT', () => {
  // Clients find a node whose tracker-known addresses went stale by its peer id (docs/dht.md): the manifest
  // names every holder, so no per-piece provider record is needed.
  it('finds a node by its peer id at the new address it took after a restart', async () => {
    try {
      const a = await startNode(teardown.defer)
      const b = await startNode(teardown.defer, { bootstrap: a.node.multiaddrs.map(String) })
      // As with heartbeat peers: c knows every node.
      const c = await startNode(teardown.defer, {
        bootstrap: [...a.node.multiaddrs.map(String), ...b.node.multiaddrs.map(String)]
      })
      await waitFor(() => b.node.libp2p.getConnections(a.node.peerId).length > 0, 'b connected to a')
      await waitFor(() => c.node.libp2p.getConnections(a.node.peerId).length > 0, 'c connected to a')
      await waitFor(() => c.node.libp2p.getConnections(b.node.peerId).length > 0, 'c connected to b')
      const before = a.node.multiaddrs.map(String)

      // a comes back on new ports and makes itself known to b only; c learns the new address through the DHT.
      await a.node.stop()
      await a.node.start()
      const after = a.node.multiaddrs.map(String)
      expect(after).not.toEqual(before)
      await b.node.libp2p.dial(a.node.multiaddrs)
      for (const conn of c.node.libp2p.getConnections(a.node.peerId)) await conn.close()
      await c.node.libp2p.peerStore.delete(peerIdFromString(a.node.peerId.toString()))

      const found = await waitFor(
        async () => {
          try {
            const info = await c.node.libp2p.peerRouting.findPeer(a.node.peerId, { signal: AbortSignal.timeout(5_000) })
            const addrs = info.multiaddrs.map((m) => `${m.toString()}/p2p/${a.node.peerId.toString()}`)
            return addrs.some((addr) => after.includes(addr)) ? addrs : undefined
          } catch {
            return undefined
          }
        },
        'a found at its new address',
        30_000
      )
      expect(found.some((addr) => after.includes(addr))).toBe(true)
    } finally {
      await teardown.run()
    }
  })
})
