import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { ShoalClient } from '@shoal/client'
import { MiB } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostNetwork, Testnet } from '../src/index.ts'
import { sha256Stream } from './helpers.ts'

// Hosts mode needs root and iproute2 (CI and the dev machines have both). Elsewhere these tests are skipped and
// say why; the loopback mode is what every other e2e test runs on.
const unavailable = await HostNetwork.unavailable()
if (unavailable !== undefined) process.stderr.write(`hosts.test.ts skipped: ${unavailable}\n`)

/** Node 0's kernel cap on its upload, bytes per second; the other nodes are uncapped. */
const CAP = 2_000_000
/** Generous: the shaping check is about correctness (the kernel holds the node to its cap), not speed. */
const TOLERANCE = 1.25
/** tbf lets a burst through at once (20 ms at the rate, at least 32 KiB; hosts.ts), plus slack for counters. */
const BURST_SLACK = 256 * 1024

function namespacesOf(range: number): string[] {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  return list
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`shoal-${range}-`))
}

describe.skipIf(unavailable !== undefined)(
  'hosts mode: every node on a host of its own (namespaces, kernel caps)',
  () => {
    let net: Testnet
    let client: ShoalClient
    // Two segments at 8 MiB (k = 2): node 0 holds one 4 MiB and one 2 MiB piece.
    const data = randomBytes(12 * MiB)
    const digest = createHash('sha256').update(data).digest('hex')

    beforeAll(async () => {
      net = await Testnet.start({
        nodes: 4,
        k: 2,
        m: 2,
        hosts: { uplink: (i) => (i === 0 ? CAP : null), required: true }
      })
      client = await ShoalClient.signup({
        tracker: net.tracker.url,
        email: 'hosts@example.com',
        password: 'hosts-test-1'
      })
    })

    afterAll(async () => {
      await client?.stop()
      await net?.stop()
    })

    it('runs each node in its own namespace, on its own address in its own /24, and the tracker lists it there', async () => {
      expect(net.mode).toBe('hosts')
      const hosts = net.nodes.map((n) => n.host!)
      expect(new Set(hosts.map((h) => h.namespace)).size).toBe(4)
      expect(new Set(hosts.map((h) => h.subnet)).size).toBe(4)
      const views = new Map((await net.nodeViews()).map((v) => [v.peerId, v]))
      for (const node of net.nodes) {
        expect(node.addrs.length).toBeGreaterThan(0)
        for (const addr of node.addrs) expect(addr.startsWith(`/ip4/${node.host!.address}/`)).toBe(true)
        expect(views.get(node.peerId)?.online).toBe(true)
        expect(views.get(node.peerId)?.addrs.some((a) => a.startsWith(`/ip4/${node.host!.address}/`))).toBe(true)
      }
    })

    it('a put and a get across namespaces are byte-identical (k + m = 4 pieces need 4 distinct subnets)', async () => {
      // Placement never puts two pieces of a segment in one /24, so this upload succeeds only because the
      // tracker saw each node's heartbeat come from the node's own subnet.
      await client.put('across.bin', [data], data.byteLength)
      const { stream } = await client.get('across.bin')
      const got = await sha256Stream(stream)
      expect(got).toEqual({ sha: digest, size: data.byteLength })
    })

    it("the kernel holds a capped node's upload to its cap", async () => {
      // With nodes 2 and 3 stopped only k = 2 nodes are left, so node 0 must send every piece it holds.
      await net.stopNode(2)
      await net.stopNode(3)
      const before = await net.hosts!.txBytes(0)
      const t0 = performance.now()
      const { stream } = await client.get('across.bin')
      const got = await sha256Stream(stream)
      const seconds = (performance.now() - t0) / 1000
      const sent = (await net.hosts!.txBytes(0)) - before
      expect(got).toEqual({ sha: digest, size: data.byteLength })
      // Exercised: node 0 sent at least its pieces (half of the file at k = 2)...
      expect(sent).toBeGreaterThanOrEqual(data.byteLength / 2)
      // ...and no faster than its cap allows over the time it had (with a generous tolerance and the burst).
      expect(sent, `node 0 sent ${sent} bytes in ${seconds.toFixed(2)} s under a ${CAP} B/s cap`).toBeLessThanOrEqual(
        CAP * TOLERANCE * seconds + BURST_SLACK
      )
    })
  }
)

describe.skipIf(unavailable !== undefined)('hosts mode teardown', () => {
  it('stop removes every namespace and link it created', async () => {
    const net = await Testnet.start({ nodes: 2, hosts: { required: true } })
    const range = net.hosts!.range
    try {
      expect(namespacesOf(range).length).toBe(3)
      expect(await HostNetwork.owned()).toEqual([range])
    } finally {
      await net.stop()
    }
    expect(namespacesOf(range)).toEqual([])
    expect(await HostNetwork.owned()).toEqual([])
    expect(spawnSync('ip', ['link', 'show', `shoal${range}`]).status).not.toBe(0)
  })

  it('a start that fails part way removes what it had built', async () => {
    // The namespaces and links exist by the time node 0's cap is set; a negative cap then fails the start.
    await expect(
      Testnet.start({ nodes: 2, hosts: { uplink: (i) => (i === 1 ? -1 : null), required: true } })
    ).rejects.toThrow(TypeError)
    for (const range of await HostNetwork.owned()) expect(namespacesOf(range)).toEqual([])
    expect(await HostNetwork.owned()).toEqual([])
  })
})
