import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { type Ping, ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { KiB, PROTOCOL_DHT } from '@shoal/core'
import { EVENT_LOOP_SAMPLE_MS } from '@shoal/core/metrics'
import { createLibp2p } from 'libp2p'
import type { Registry } from 'prom-client'
import {
  CONNECTION_PING_INTERVAL_MS,
  DHT_CLOSEST_PEERS_RETAG_MS,
  DHT_REFRESH_INTERVAL_MS,
  MAX_READ_BUFFER_BYTES,
  NODE_VERSION,
  STREAM_WINDOW_BYTES
} from './constants.ts'

// A type alias, not an interface: libp2p's ServiceMap constraint needs an index-compatible type.
export type NodeServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  certificates: CertificateRenewer
}

/** Hands a renewed TLS certificate to the secure WebSockets listener, which serves new connections with it. */
export interface CertificateRenewer {
  renew(pair: { cert: string; key: string }): void
}

/**
 * The listener hears of new certificates on libp2p's internal event bus (as from @libp2p/auto-tls), which only
 * services can reach: events dispatched on the libp2p object go outwards, not in.
 */
function certificateRenewer() {
  return (components: {
    events: { safeDispatchEvent(type: 'certificate:renew', init: { detail: { cert: string; key: string } }): boolean }
  }): CertificateRenewer => ({
    renew: (pair) => {
      components.events.safeDispatchEvent('certificate:renew', { detail: pair })
    }
  })
}

export type NodeLibp2p = Libp2p<NodeServices>

export interface NodeLibp2pInit {
  privateKey: PrivateKey
  listen: string[]
  /**
   * Addresses to advertise instead of the listen addresses (a home node behind port forwarding announces its
   * router's public address); default: the listen addresses.
   */
  announce?: string[]
  /** Certificate and key for secure WebSockets (`/tls/ws` listen addresses); none: plain `/ws` only. */
  tls?: { cert: string; key: string }
  /** Where libp2p's connection, stream and transfer metrics go; default: none collected. */
  metrics?: Registry
  /** Most open connections before libp2p prunes. */
  maxConnections?: number
  /** Largest yamux receive window per stream; default STREAM_WINDOW_BYTES. */
  streamWindowBytes?: number
  /** libp2p resets a stream whose unread buffer passes this; default MAX_READ_BUFFER_BYTES (window plus slack). */
  maxReadBufferBytes?: number
}

/**
 * The storage node's libp2p: TCP and WebSockets, noise, yamux with wide windows, identify, ping and a Kademlia
 * DHT server under Shoal's own protocol id. Deliberately absent: public bootstrap lists, mDNS, UPnP, autoNAT
 * and relays — peers come from the tracker and from configuration only.
 */
export function createNodeLibp2p(init: NodeLibp2pInit): Promise<NodeLibp2p> {
  return createLibp2p<NodeServices>({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen, ...(init.announce === undefined ? {} : { announce: init.announce }) },
    // libp2p's own metrics (connections, streams, bytes per protocol, dial errors) beside Shoal's, on /metrics.
    ...(init.metrics === undefined
      ? {}
      : {
          metrics: prometheusMetrics({
            registry: init.metrics,
            defaultMetrics: { eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS }
          })
        }),
    nodeInfo: { userAgent: `shoal-node/${NODE_VERSION}` },
    transports: [tcp(), webSockets(init.tls === undefined ? {} : { https: init.tls })],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        // yamux pings every connection every 30 s and ignores a missing answer; the connection monitor below
        // already pings, and aborts a connection that stops answering, so the second ping is pure idle cost
        // (a meshed idle node spent about a third of its CPU on the two).
        enableKeepAlive: false,
        streamOptions: {
          initialStreamWindowSize: 256 * KiB,
          // Wide windows for throughput (js-libp2p-yamux#42); also the most a paused stream can still receive.
          maxStreamWindowSize: init.streamWindowBytes ?? STREAM_WINDOW_BYTES,
          maxReadBufferLength: init.maxReadBufferBytes ?? MAX_READ_BUFFER_BYTES
        }
      })
    ],
    // libp2p pings every connection every 10 s by default, each ping a new stream (protocol negotiation and a
    // peer-store write on both ends): in a meshed network of 16 nodes that alone kept an idle network busy.
    // Dead connections still surface within two minutes, and at once when a transfer on them fails.
    connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS },
    connectionManager: {
      maxConnections: init.maxConnections ?? 1024,
      // Clients and nodes on one LAN dial in bursts from the same address; the defaults (5/s per host, 10
      // pending) reset them with ECONNRESET.
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 256
    },
    services: {
      identify: identify(),
      ping: ping(),
      certificates: certificateRenewer(),
      dht: kadDHT({
        protocol: PROTOCOL_DHT,
        // Storage nodes answer DHT queries even before anything proves they are publicly reachable.
        clientMode: false,
        // The default mapper drops private addresses, which leaves every routing table empty on a LAN.
        peerInfoMapper: passthroughMapper,
        querySelfInterval: DHT_REFRESH_INTERVAL_MS,
        // The next two are options only with patches/@libp2p__kad-dht@16.4.5.patch.
        tableRefreshInterval: DHT_REFRESH_INTERVAL_MS,
        closestPeerSetRefreshInterval: DHT_CLOSEST_PEERS_RETAG_MS
      })
    }
  })
}
