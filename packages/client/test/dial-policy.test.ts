import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { dialPolicyFor, mayDial } from '../src/p2p/dial-policy.ts'
import { connectionGater } from '../src/p2p/transports.browser.ts'

const may = (page: string, addr: string) => {
  const url = new URL(page)
  return mayDial(dialPolicyFor(url), multiaddr(addr))
}

describe('the browser dial policy', () => {
  it('on a public HTTPS page dials only wss to public addresses', () => {
    const page = 'https://drive.example.org/'
    expect(may(page, '/ip4/203.0.113.7/tcp/443/tls/ws/p2p/12D3KooWGBfKqTqgRSoWPXs5QDJ7hfbVkpnbLLp6qWsk9LaVCRcE')).toBe(
      true
    )
    expect(may(page, '/dns4/node.example.org/tcp/443/wss')).toBe(true)
    expect(may(page, '/ip4/203.0.113.7/tcp/4002/ws')).toBe(false)
    expect(may(page, '/ip4/203.0.113.7/tcp/4001')).toBe(false)
    // A visitor's home network and their own machine are not a public page's to probe.
    for (const ip of ['192.168.1.1', '10.0.0.5', '172.20.0.1', '127.0.0.1', '169.254.1.1', '100.64.0.1']) {
      expect(may(page, `/ip4/${ip}/tcp/443/tls/ws`), ip).toBe(false)
    }
    expect(may(page, '/ip6/::1/tcp/443/tls/ws')).toBe(false)
    expect(may(page, '/ip6/fd00::1/tcp/443/tls/ws')).toBe(false)
    expect(may(page, '/dns4/localhost/tcp/443/tls/ws')).toBe(false)
  })

  it('on a page served from a private address or localhost (local mode) dials private addresses', () => {
    expect(may('https://10.77.0.1:8443/', '/ip4/10.77.1.2/tcp/4002/tls/ws')).toBe(true)
    expect(may('https://10.77.0.1:8443/', '/ip4/10.77.1.2/tcp/4002/ws')).toBe(false)
    expect(may('http://localhost:5173/', '/ip4/127.0.0.1/tcp/4002/ws')).toBe(true)
    expect(may('http://[::1]:5173/', '/ip4/192.168.1.9/tcp/4002/ws')).toBe(true)
  })

  it('is what the browser build’s gater applies, and a caller may set it', async () => {
    const gater = connectionGater({ privateAddresses: false, secureOnly: true })
    expect(await gater.denyDialMultiaddr(multiaddr('/ip4/203.0.113.7/tcp/443/tls/ws'))).toBe(false)
    expect(await gater.denyDialMultiaddr(multiaddr('/ip4/203.0.113.7/tcp/80/ws'))).toBe(true)
  })
})
