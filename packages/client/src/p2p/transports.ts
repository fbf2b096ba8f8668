import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'

/** Node clients dial nodes over TCP (fastest) or WebSockets. */
export function clientTransports() {
  return [tcp(), webSockets()]
}

export const connectionGater = undefined
