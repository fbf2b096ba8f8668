import { isIPv4, isIPv6 } from 'node:net'

/**
 * How nodes that reach the tracker over loopback are grouped. 'node' (default): each is its own failure domain,
 * so a test network of processes on one machine behaves like separate machines. 'address': by the loopback IPv4
 * address the node listens on (127.0.0.N in full), so a test network that gives nodes their own 127.0.0.N can
 * exercise the subnet rule; nodes on the same address share a domain.
 */
export type LoopbackSubnets = 'node' | 'address'

/**
 * A node's failure domain for placement: no two pieces of a segment go to one. Taken from the address its
 * heartbeat came from (the node cannot pick it, unlike the addresses it announces): the IPv4 /24 or the IPv6 /64.
 * Nodes behind one home router share a domain, which is the point.
 */
export function subnetOf(
  source: string | undefined,
  addrs: readonly string[],
  peerId: string,
  loopback: LoopbackSubnets
): string {
  const ip = source?.startsWith('::ffff:') === true ? source.slice(7) : source
  if (ip !== undefined && isIPv4(ip) && !ip.startsWith('127.')) return `${ip.split('.').slice(0, 3).join('.')}.0/24`
  if (ip !== undefined && isIPv6(ip) && ip !== '::1') {
    const groups = expandIPv6(ip)
    if (groups !== undefined) return `${groups.slice(0, 4).join(':')}::/64`
  }
  if (loopback === 'address') {
    for (const addr of addrs) {
      const match = /^\/ip4\/(127\.\d+\.\d+\.\d+)\//.exec(addr)
      if (match !== null) return match[1] as string
    }
  }
  return `node:${peerId}`
}

function expandIPv6(ip: string): string[] | undefined {
  const [head = '', tail] = ip.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const fill = tail === undefined ? 0 : 8 - left.length - right.length
  const groups = [...left, ...Array.from({ length: fill }, () => '0'), ...right]
  return groups.length === 8 ? groups.map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')) : undefined
}
