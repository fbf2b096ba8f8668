import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p, Stream } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { CID, ErrorCode, MiB, type NodeAddress, PROTOCOL_DHT, ShoalError } from '@shoal/core'
import { createLibp2p } from 'libp2p'
import { clientTransports, connectionGater } from '#transports'

export interface ClientPeerInit {
  /** Per-stream flow-control window: larger windows keep fast links busy. */
  maxStreamWindowSize?: number
}

/**
 * The client's libp2p node: dials only, never listens; a DHT client (Shoal's private protocol, no public
 * bootstrap) that learns its routing table from the storage nodes it talks to; no UPnP or autoNAT.
 */
export async function createClientPeer(init: ClientPeerInit = {}): Promise<Libp2p> {
  const window = init.maxStreamWindowSize ?? 16 * MiB
  return createLibp2p({
    addresses: { listen: [] },
    transports: clientTransports(),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: window, initialStreamWindowSize: 256 * 1024 } })],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: PROTOCOL_DHT, clientMode: true, peerInfoMapper: passthroughMapper })
    },
    ...(connectionGater === undefined ? {} : { connectionGater }),
    connectionManager: { maxConnections: 1024 }
  })
}

export function nodeMultiaddrs(node: NodeAddress): Multiaddr[] {
  return node.addrs.map((a) => multiaddr(a.includes('/p2p/') ? a : `${a}/p2p/${node.peerId}`))
}

/** Opens a protocol stream to a node; failures become ERR_NODE_UNREACHABLE naming the node. */
export async function openStream(
  peer: Libp2p,
  node: NodeAddress,
  protocol: string,
  options: { signal?: AbortSignal }
): Promise<Stream> {
  const addrs = nodeMultiaddrs(node)
  if (addrs.length === 0) throw new ShoalError(ErrorCode.NODE_UNREACHABLE, `node ${node.peerId} has no address`)
  try {
    return await peer.dialProtocol(addrs, protocol, { signal: options.signal })
  } catch (cause) {
    options.signal?.throwIfAborted()
    throw new ShoalError(ErrorCode.NODE_UNREACHABLE, `cannot reach node ${node.peerId}: ${(cause as Error).message}`, {
      cause,
      details: { node: node.peerId }
    })
  }
}

/**
 * Finds where a node listens now, through the DHT: first the node's own peer record (`findPeer`), then the
 * provider records for a piece it holds (`findProviders`). Used when the tracker's addresses are stale, e.g.
 * after the node restarted on new ports.
 */
export async function locateNode(
  peer: Libp2p,
  node: NodeAddress,
  piece: string,
  signal: AbortSignal
): Promise<NodeAddress | undefined> {
  const id = peerIdFromString(node.peerId)
  const strip = (addrs: Multiaddr[]): string[] => addrs.map((a) => a.toString().replace(/\/p2p\/[^/]+$/, ''))
  const timeout = AbortSignal.any([signal, AbortSignal.timeout(15_000)])
  await routingTableReady(peer, timeout)
  // Twice: a restarted node may not have reached the peers we ask yet.
  for (let attempt = 0; attempt < 2 && !timeout.aborted; attempt++) {
    try {
      const info = await peer.peerRouting.findPeer(id, { signal: timeout })
      if (info.multiaddrs.length > 0) return { peerId: node.peerId, addrs: strip(info.multiaddrs) }
    } catch {
      // Not found by peer id (yet).
    }
  }
  try {
    for await (const provider of peer.contentRouting.findProviders(CID.parse(piece), { signal: timeout })) {
      if (provider.id.equals(id) && provider.multiaddrs.length > 0) {
        return { peerId: node.peerId, addrs: strip(provider.multiaddrs) }
      }
    }
  } catch {
    // No provider record either.
  }
  return undefined
}

/**
 * The client's routing table fills as it connects to nodes (identify tells it which speak the DHT). A lookup
 * right after the first failed dial may find it empty, so wait briefly for a first entry.
 */
async function routingTableReady(peer: Libp2p, signal: AbortSignal): Promise<void> {
  const dht = (peer.services as { dht?: { routingTable?: { size: number } } }).dht
  while (dht?.routingTable !== undefined && dht.routingTable.size === 0 && !signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
