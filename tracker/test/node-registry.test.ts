import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/config.ts'
import { GrantSigner } from '../src/grants.ts'
import { NodeRegistry, type Standings, samplePeers } from '../src/node-registry.ts'
import type { NodeStanding } from '../src/ops/reputations.ts'
import type { NodeRecord, StoreParts } from '../src/store/store.ts'
import { TestClock } from './helpers.ts'

const GOOD: NodeStanding = { vetted: true, score: 1, disqualified: false, exiting: false }

/** Standings a test changes by hand; `version` moves with every change, as Reputations' does. */
class TestStandings implements Standings {
  readonly #of = new Map<string, NodeStanding>()
  version = 0
  standing(peerId: string): NodeStanding {
    return this.#of.get(peerId) ?? GOOD
  }
  set(peerId: string, standing: Partial<NodeStanding>): void {
    this.#of.set(peerId, { ...GOOD, ...standing })
    this.version++
  }
}

/** A registry over an in-memory node table (the store's part it reads), with its clock and standings. */
async function registryWith(free: number[], opts: { heartbeatIntervalMs?: number } = {}) {
  const clock = new TestClock()
  const config = resolveConfig({ dataDir: '/nonexistent', clock, ...opts })
  const table = new Map<string, NodeRecord>()
  for (const [i, f] of free.entries()) {
    const peerId = `node${i}`
    table.set(peerId, {
      peerId,
      addrs: [`/ip4/10.0.0.${i}/tcp/4001`],
      capacity: f,
      used: 0,
      free: f,
      version: 'test',
      lastSeen: clock.now(),
      lastAt: clock.now(),
      subnet: `subnet:${i}`
    })
  }
  let reads = 0
  const store = {
    nodes: {
      listNodes: async () => {
        reads++
        return [...table.values()]
      }
    }
  } as unknown as StoreParts<'nodes'>
  const standings = new TestStandings()
  const signer = new GrantSigner(await generateKeyPair('Ed25519'), clock, config.grantTtlMs)
  const registry = new NodeRegistry({ store, config, signer, trackerKey: 'k', standings })
  return { registry, clock, config, table, standings, reads: () => reads }
}

const ids = (nodes: readonly NodeRecord[]) => nodes.map((n) => n.peerId)

describe('NodeRegistry placement', () => {
  it('counts granted bytes against nodes until they report, so a burst spreads over the network', async () => {
    const { registry } = await registryWith([10_000, 10_000, 10_000, 10_000, 10_000, 10_000])
    const first = ids(await registry.place(3, 1_000, 0, []))
    const second = ids(await registry.place(3, 1_000, 0, []))
    expect(new Set([...first, ...second]).size).toBe(6)
    // Each node now has 9,000 bytes left as far as placement knows: a 9,001-byte piece fits nowhere.
    await expect(registry.place(1, 9_001, 0, [])).rejects.toMatchObject({ code: 'ERR_NOT_ENOUGH_NODES' })
    expect(await registry.freeSpace()).toEqual([9_000, 9_000, 9_000, 9_000, 9_000, 9_000])
  })

  it('forgets grants once they expire', async () => {
    // Nodes that stay online longer than a grant lives.
    const { registry, clock, config } = await registryWith([2_000, 2_000, 2_000], { heartbeatIntervalMs: 86_400_000 })
    expect(config.offlineAfterMs).toBeGreaterThan(config.grantTtlMs)
    await registry.place(3, 1_500, 0, [])
    await expect(registry.place(3, 1_500, 0, [])).rejects.toMatchObject({ code: 'ERR_NOT_ENOUGH_NODES' })
    clock.advance(config.grantTtlMs + 1)
    expect(await registry.freeSpace()).toEqual([2_000, 2_000, 2_000])
  })

  it('takes a standing change at the next placement, without reading the node table again', async () => {
    const { registry, standings, reads } = await registryWith([5_000, 4_000, 3_000, 2_000])
    expect(ids(await registry.place(2, 100, 0, []))).toEqual(['node0', 'node1'])
    standings.set('node0', { disqualified: true })
    standings.set('node1', { exiting: true })
    expect(ids(await registry.place(2, 100, 0, []))).toEqual(['node2', 'node3'])
    // A poor score ranks a node last whatever its free space.
    standings.set('node2', { score: 0.5 })
    expect(ids(await registry.place(1, 100, 0, []))).toEqual(['node3'])
    expect(reads()).toBe(1)
  })

  it('leaves out a node the moment it counts as offline, even within one read of the table', async () => {
    const { registry, clock, config, reads } = await registryWith([5_000, 4_000, 3_000])
    clock.advance(config.offlineAfterMs - 10)
    expect(await registry.freeSpace()).toHaveLength(3)
    // Every node was last seen offlineAfterMs + 1 ago: the same read of the table, nobody online.
    clock.advance(11)
    expect(await registry.freeSpace()).toEqual([])
    expect(reads()).toBe(1)
  })

  it('places by what a heartbeat to this tracker reported, at once', async () => {
    const { registry, table } = await registryWith([5_000, 4_000, 3_000])
    expect(ids(await registry.place(1, 100, 0, []))).toEqual(['node0'])
    // Another tracker's heartbeat: seen only when the table is read again.
    table.set('node2', { ...(table.get('node2') as NodeRecord), free: 9_000 })
    registry.refresh()
    expect(ids(await registry.place(1, 100, 0, []))).toEqual(['node2'])
  })

  it('keeps the order of excluded and sticky pieces as choosePlacement does', async () => {
    const { registry } = await registryWith([5_000, 4_000, 3_000, 2_000, 1_000])
    expect(ids(await registry.place(3, 100, 0, ['node0']))).toEqual(['node1', 'node2', 'node3'])
    expect(ids(await registry.place(3, 100, 1, [], ['node4', undefined, undefined]))).toEqual([
      'node4',
      'node1',
      'node2'
    ])
    expect(await registry.available(100, ['node0', 'node1'])).toBe(3)
  })

  it('places repairs beside the pieces that stay, in new subnets', async () => {
    const { registry } = await registryWith([5_000, 4_000, 3_000, 2_000])
    expect(ids(await registry.placeBeside(2, 100, 0, ['node0'], ['node1']))).toEqual(['node2', 'node3'])
    await expect(registry.placeBeside(3, 100, 0, ['node0'], ['node1'])).rejects.toMatchObject({
      code: 'ERR_NOT_ENOUGH_NODES'
    })
  })
})

describe('samplePeers', () => {
  const network = (n: number, online: (i: number) => boolean) =>
    Array.from({ length: n }, (_, i) => ({
      peerId: `p${i}`,
      node: { addrs: [`/ip4/10.0.0.1/tcp/${i}`] } as NodeRecord,
      offlineAfter: online(i) ? 2_000 : 500
    }))

  it('picks distinct online nodes other than the asker, in a large network and a small one', () => {
    for (const size of [10, 30, 1_000]) {
      const nodes = network(size, (i) => i % 3 !== 0)
      for (let round = 0; round < 20; round++) {
        const peers = samplePeers(nodes, 'p1', 1_000, 20)
        const online = nodes.filter((_, i) => i % 3 !== 0 && i !== 1).length
        expect(peers).toHaveLength(Math.min(20, online))
        const picked = peers.map((p) => p.peerId)
        expect(new Set(picked).size).toBe(picked.length)
        expect(picked).not.toContain('p1')
        for (const id of picked) expect(Number(id.slice(1)) % 3).not.toBe(0)
        expect(peers[0]?.addrs).toEqual(nodes.find((n) => n.peerId === picked[0])?.node.addrs)
      }
    }
  })

  it('still finds the few online nodes of a large network that is mostly offline', () => {
    const nodes = network(1_000, (i) => i < 5)
    const picked = samplePeers(nodes, 'p0', 1_000, 20).map((p) => p.peerId)
    expect(picked.sort()).toEqual(['p1', 'p2', 'p3', 'p4'])
  })

  it('draws every online node in time (no node is left out of the rotation)', () => {
    const nodes = network(200, () => true)
    const seen = new Set<string>()
    for (let round = 0; round < 200; round++) for (const p of samplePeers(nodes, 'p0', 1_000, 20)) seen.add(p.peerId)
    expect(seen.size).toBe(199)
  })
})
