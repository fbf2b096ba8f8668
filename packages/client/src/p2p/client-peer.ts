import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p, Stream } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, MiB, type NodeAddress, ShoalError } from '@shoal/core'
import { createLibp2p } from 'libp2p'
import { clientTransports, connectionGater } from '#transports'

export interface ClientPeerInit {
  /** Per-stream flow-control window: larger windows keep fast links busy. */
  maxStreamWindowSize?: number
}

/**
 * The client's libp2p node: dials only, never listens, no DHT server, no public bootstrap, no UPnP or autoNAT.
 */
export async function createClientPeer(init: ClientPeerInit = {}): Promise<Libp2p> {
  const window = init.maxStreamWindowSize ?? 16 * MiB
  return createLibp2p({
    addresses: { listen: [] },
    transports: clientTransports(),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: window, initialStreamWindowSize: 256 * 1024 } })],
    services: { identify: identify() },
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
