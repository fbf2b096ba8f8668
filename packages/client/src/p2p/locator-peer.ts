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
export async function createLocatorPeer(
  init: ClientPeerInit = {},
  isDown: (peerId: string) => boolean = () => false
): Promise<Libp2p> {
  const base = baseOptions(init)
  return createLibp2p({
    ...base,
    // Its DHT walks the nodes' routing tables, which still list nodes this client found dead: it must not dial
    // them (a browser logs every failed WebSocket, issue 15), even in queries or upkeep that outlive a lookup.
    connectionGater: { ...base.connectionGater, denyDialPeer: (peerId) => isDown(peerId.toString()) },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: PROTOCOL_DHT, clientMode: true, peerInfoMapper: passthroughMapper })
    }
  })
}
