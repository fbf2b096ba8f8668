import { webSockets } from '@libp2p/websockets'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type DialPolicy, dialPolicyFor, mayDial } from './dial-policy.ts'

/** Browsers can only dial WebSockets. */
export function clientTransports() {
  return [webSockets()]
}

/**
 * libp2p's browser default refuses plain ws:// and every private address, which leaves a LAN deployment or a
 * test network nothing to dial; allowing everything would let a public page probe its visitors' home networks.
 * Shoal's gater follows the page (dial-policy.ts): wss only on an HTTPS page, private addresses only when the
 * page itself is served from one (local or development mode), unless the caller gives a policy.
 */
export function connectionGater(policy: DialPolicy = dialPolicyFor(globalThis.location)) {
  return { denyDialMultiaddr: async (ma: Multiaddr) => !mayDial(policy, ma) }
}
