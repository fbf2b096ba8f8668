import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import type { DialPolicy } from './dial-policy.ts'

/** Node clients dial nodes over TCP (fastest) or WebSockets. */
export function clientTransports() {
  return [tcp(), webSockets()]
}

/** Node clients (CLI, tracker, tests) dial any address they are given: no gater. */
export function connectionGater(_policy?: DialPolicy): undefined {
  return undefined
}
