import { webSockets } from '@libp2p/websockets'

/** Browsers can only dial WebSockets. */
export function clientTransports() {
  return [webSockets()]
}

/**
 * The browser build's default gater refuses plain ws:// and private addresses. Shoal nodes on a local network
 * (and every test network) are exactly that; production nodes serve wss:// on public addresses.
 */
export const connectionGater = { denyDialMultiaddr: async () => false }
