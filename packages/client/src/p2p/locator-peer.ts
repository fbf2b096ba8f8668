import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { PROTOCOL_DHT } from '@shoal/core'
import { createLibp2p } from 'libp2p'
import { baseOptions, type ClientPeerInit } from './client-peer.ts'

/**
 * A DHT client (Shoal's private protocol, no public bootstrap) that learns its routing table, through identify,
 * from the storage nodes it connects to: the NodeLocator's peer.
 */
export async function createLocatorPeer(init: ClientPeerInit = {}): Promise<Libp2p> {
  return createLibp2p({
    ...baseOptions(init),
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: PROTOCOL_DHT, clientMode: true, peerInfoMapper: passthroughMapper })
    }
  })
}
