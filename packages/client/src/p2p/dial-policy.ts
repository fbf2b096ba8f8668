import type { Multiaddr } from '@multiformats/multiaddr'

/** Which node addresses a browser may dial. */
export interface DialPolicy {
  /**
   * Loopback, private (RFC 1918, CGNAT, unique-local) and link-local addresses. Only in a local or development
   * setup: a page on the internet that dials them probes its visitor's home network for whoever serves it.
   */
  privateAddresses: boolean
  /** Only secure WebSockets (`/tls/ws`, `/wss`): what a page served over HTTPS may open (mixed content). */
  secureOnly: boolean
}

/**
 * The policy for a page at `location`: a page served over HTTPS dials only wss; a page served from a loopback or
 * private address (a dev server, a LAN deployment, the test networks) is the local mode that may dial private
 * addresses, and a page on a public name or address is not.
 */
export function dialPolicyFor(location: { protocol: string; hostname: string }): DialPolicy {
  const host = location.hostname.replace(/^\[|\]$/g, '')
  return {
    privateAddresses: host === 'localhost' || host.endsWith('.localhost') || isPrivateAddress(host),
    secureOnly: location.protocol === 'https:'
  }
}

/** Whether the policy lets a browser dial `ma`. */
export function mayDial(policy: DialPolicy, ma: Multiaddr): boolean {
  const parts = ma.getComponents()
  if (policy.secureOnly && !parts.some((c) => c.name === 'wss' || c.name === 'tls')) return false
  if (!policy.privateAddresses) {
    const host = parts[0]
    if (host === undefined) return false
    if ((host.name === 'ip4' || host.name === 'ip6') && isPrivateAddress(host.value ?? '')) return false
    if (host.name.startsWith('dns') && /(^|\.)localhost$/i.test(host.value ?? '')) return false
  }
  return true
}

/** Loopback, private, shared (CGNAT), link-local or unspecified IPv4 and IPv6 addresses. */
export function isPrivateAddress(ip: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.replace(/^::ffff:/i, ''))
  if (v4 !== null) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168)
    )
  }
  if (!ip.includes(':')) return false
  const lower = ip.toLowerCase()
  return lower === '::1' || lower === '::' || /^f[cd][0-9a-f]{2}:/.test(lower) || /^fe[89ab][0-9a-f]:/.test(lower)
}
