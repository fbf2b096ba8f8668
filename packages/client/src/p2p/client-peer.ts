import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { ErrorCode, MiB, type NodeAddress, ShoalError, sleep } from '@shoal/core'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { clientTransports, connectionGater } from '#transports'
import type { DialPolicy } from './dial-policy.ts'

/**
 * How long a DHT search for a node's new address may take in all, each round of it (a query stuck on dead
 * peers must not use up the whole search), and the pause between rounds.
 */
const LOCATE_TIMEOUT_MS = 30_000
const LOCATE_ROUND_MS = 8_000
const LOCATE_RETRY_MS = 500

export interface ClientPeerInit {
  /** Per-stream flow-control window: larger windows keep fast links busy. */
  maxStreamWindowSize?: number
  /** Browsers: which node addresses may be dialled; default from the page (dial-policy.ts). Ignored in Node. */
  dialPolicy?: DialPolicy
  /** libp2p metrics (e.g. `@libp2p/prometheus-metrics` in a tracker); default none. */
  metrics?: Libp2pOptions['metrics']
}

/**
 * Announced on every stream the client opens (patches/@chainsafe__libp2p-yamux): a node can then send a whole
 * piece (up to this size) without waiting for a window update, each of which was an encrypted frame, socket
 * writes and a wake-up on both ends. With the socket writes corked too (patches/@libp2p__tcp), a 256 MiB
 * `shoal get` made 2,237 socket writes instead of 4,782. Memory stays bounded by the pieces in flight: the
 * client copies each chunk into its piece buffer as it arrives.
 */
const INITIAL_STREAM_WINDOW_BYTES = 4 * MiB

/**
 * The client's libp2p node for moving pieces: dials only, never listens; no UPnP or autoNAT. It runs neither
 * identify nor the DHT: a manifest names every holder with its addresses, so neither is needed to transfer, and
 * on every new connection they cost both ends a protocol exchange, peer-store writes and routing-table updates
 * on a cold process's critical path (a 1 MB `shoal get` took 113 ms less without them, docs/transport-tuning.md,
 * session 14). Finding a node that moved is the NodeLocator's, on a peer of its own (node-locator.ts).
 */
export async function createClientPeer(init: ClientPeerInit = {}): Promise<Libp2p> {
  return createLibp2p({ ...baseOptions(init), services: { ping: ping() } })
}

/** Transports, encryption, muxer and gater: the same for the transfer peer and the locator's. */
export function baseOptions(init: ClientPeerInit): Libp2pOptions {
  const window = init.maxStreamWindowSize ?? 16 * MiB
  const gater = connectionGater(init.dialPolicy)
  return {
    addresses: { listen: [] },
    ...(init.metrics === undefined ? {} : { metrics: init.metrics }),
    transports: clientTransports(),
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        streamOptions: {
          maxStreamWindowSize: window,
          initialStreamWindowSize: Math.min(INITIAL_STREAM_WINDOW_BYTES, window)
        }
      })
    ],
    ...(gater === undefined ? {} : { connectionGater: gater }),
    connectionManager: { maxConnections: 1024 }
  }
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
 * Finds where a node listens now, through the DHT's peer routing (`findPeer`) of `peer`, a locator peer
 * (locator-peer.ts): nodes announce no per-piece provider records (docs/dht.md), since a manifest names every
 * holder. Used when the tracker's addresses are stale, e.g. after the node restarted on new ports. A node that
 * has just restarted may not have reached the peers asked yet, and they may still hold its old addresses: the
 * lookups repeat, a moment apart, until one gives addresses other than `node`'s or LOCATE_TIMEOUT_MS runs out.
 */
export async function locateNode(
  peer: Libp2p,
  node: NodeAddress,
  signal: AbortSignal,
  seed?: () => void
): Promise<NodeAddress | undefined> {
  const id = peerIdFromString(node.peerId)
  const fresh = (addrs: Multiaddr[]): NodeAddress | undefined => {
    const found = addrs.map((a) => a.toString().replace(/\/p2p\/[^/]+$/, ''))
    const stale = found.length === 0 || found.every((a) => node.addrs.includes(a))
    return stale ? undefined : { peerId: node.peerId, addrs: found }
  }
  const timeout = AbortSignal.any([signal, AbortSignal.timeout(LOCATE_TIMEOUT_MS)])
  await routingTableReady(peer, timeout, seed)
  while (!timeout.aborted) {
    const round = AbortSignal.any([timeout, AbortSignal.timeout(LOCATE_ROUND_MS)])
    try {
      const found = fresh((await peer.peerRouting.findPeer(id, { signal: round })).multiaddrs)
      if (found !== undefined) return found
    } catch {
      // Not found by peer id (yet).
    }
    await sleep(LOCATE_RETRY_MS, timeout).catch(() => undefined)
  }
  return undefined
}

/**
 * The locator's routing table fills as it connects to nodes (identify tells it which speak the DHT). A lookup
 * right after the first failed dial may find it empty, so wait briefly for a first entry; `seed` is called on
 * each wait, to dial nodes that became known meanwhile.
 */
async function routingTableReady(peer: Libp2p, signal: AbortSignal, seed?: () => void): Promise<void> {
  const dht = (peer.services as { dht?: { routingTable?: { size: number } } }).dht
  while (dht?.routingTable !== undefined && dht.routingTable.size === 0 && !signal.aborted) {
    seed?.()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
