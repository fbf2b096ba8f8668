import { randomBytes } from 'node:crypto'
import { open, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ShoalClient } from '@shoal/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'

/**
 * Fault tests with real processes: a tracker auditing and repairing every 2 s, and eleven nodes on ten loopback
 * addresses (nodes 0 and 10 share 127.0.0.10, one failure domain). Figures go to the log line "HEAL {...}" for
 * bench/RESULTS.md.
 */
const NODES = 11
const K = 2
const M = 2
const subnetOf = (i: number) => `127.0.0.${10 + (i % 10)}`

let net: Testnet
let client: ShoalClient
const files = new Map<string, Buffer>()
const figures: Record<string, number> = {}

beforeAll(async () => {
  net = await Testnet.start({
    nodes: NODES,
    k: K,
    m: M,
    segmentSize: '256KiB',
    heartbeatInterval: '1s',
    trackerArgs: [
      '--audit-interval',
      '2s',
      '--audit-rate',
      '1',
      '--audit-timeout',
      '5s',
      '--repair-interval',
      '2s',
      '--repair-margin',
      '1',
      '--vetting-audits',
      '1',
      '--audit-lambda',
      '0.8',
      '--max-offline',
      '20s',
      // Heartbeats late under load must not move pieces: the testnet counts a node offline after 10 s of
      // silence, and pieces on it are repaired from then on (no further grace).
      '--repair-offline-grace',
      '0',
      '--loopback-subnets',
      'address'
    ],
    nodeArgs: (i) => ['--listen', `/ip4/${subnetOf(i)}/tcp/0`, '--dashboard', 'off']
  })
  client = await ShoalClient.signup({ tracker: net.tracker.url, email: 'heal@example.com', password: 'long enough pw' })
  for (const [name, size] of [
    ['big.bin', 2 * 1024 * 1024 + 1234],
    ['mid.bin', 600 * 1024],
    ['small.bin', 10_000]
  ] as const) {
    const bytes = randomBytes(size)
    await client.put(name, [bytes], size)
    files.set(name, bytes)
  }
}, 240_000)

afterAll(async () => {
  console.log(`HEAL ${JSON.stringify(figures)}`)
  await client?.stop()
  // A stopped (SIGSTOP) node must continue before it can take its SIGTERM.
  for (const n of net?.nodes ?? []) if (n.running) continue_(n.pid)
  await net?.stop()
})

function continue_(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT')
  } catch {}
}

interface Placement {
  object: string
  segment: number
  pieces: { index: number; cid: string; node: string }[]
}

async function placements(): Promise<Placement[]> {
  const out: Placement[] = []
  const { objects } = await client.tracker.listObjects()
  for (const o of objects) {
    const info = await client.tracker.objectByName(o.nameHash)
    const { segments } = await client.tracker.downloadGrants(o.id, 0, info.segmentCount)
    for (const s of segments) {
      out.push({
        object: o.id,
        segment: s.index,
        pieces: s.pieces.map((p) => ({ index: p.index, cid: p.cid, node: p.node.peerId }))
      })
    }
  }
  return out
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${net.tracker.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? Number.NaN : Number(line.split(' ')[1])
}

async function reputation(peerId: string): Promise<{ auditScore: number; disqualified?: { reason: string } }> {
  return (await fetch(`${net.tracker.url}/v1/nodes/${peerId}/reputation`)).json() as Promise<{
    auditScore: number
    disqualified?: { reason: string }
  }>
}

const indexOf = (peerId: string): number => net.nodes.findIndex((n) => n.peerId === peerId)

/**
 * Where the placement rules are broken: a segment without k + m pieces of distinct indexes on distinct nodes in
 * distinct failure domains, or with a piece on a node in `avoid`. Empty when every segment is fully healthy.
 */
async function unhealthy(avoid: ReadonlySet<string>): Promise<string[]> {
  const problems: string[] = []
  for (const p of await placements()) {
    const nodes = p.pieces.map((x) => x.node)
    const where = `object ${p.object.slice(0, 8)} segment ${p.segment}`
    if (p.pieces.length !== K + M) problems.push(`${where}: ${p.pieces.length} pieces`)
    if (new Set(p.pieces.map((x) => x.index)).size !== p.pieces.length) problems.push(`${where}: a repeated index`)
    if (new Set(nodes).size !== nodes.length) problems.push(`${where}: two pieces on one node`)
    if (new Set(nodes.map((n) => subnetOf(indexOf(n)))).size !== nodes.length) {
      problems.push(`${where}: two pieces in one failure domain (${nodes.map((n) => subnetOf(indexOf(n))).join(', ')})`)
    }
    for (const n of nodes) if (avoid.has(n)) problems.push(`${where}: a piece on node ${indexOf(n)}`)
  }
  return problems
}

/** Full health: the placement rules hold, and no piece is on `bad` or on a node the tracker counts offline. */
async function fullHealth(bad: ReadonlySet<string>): Promise<boolean> {
  const offline = (await net.nodeViews()).filter((v) => !v.online).map((v) => v.peerId)
  return (await unhealthy(new Set([...bad, ...offline]))).length === 0
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<number> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 250))
  }
  return Date.now() - started
}

async function downloadAll(): Promise<void> {
  for (const [name, bytes] of files) {
    const { stream } = await client.get(name)
    const chunks: Uint8Array[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(Buffer.concat(chunks).equals(bytes), name).toBe(true)
  }
}

async function piecePath(peerId: string, cid: string): Promise<string> {
  const node = net.nodes[indexOf(peerId)]
  if (node === undefined) throw new Error(`no node ${peerId}`)
  return join(node.dataDir, 'pieces', cid.slice(-3, -1), cid)
}

/** Flips one byte per 16 KiB leaf: whichever leaves an audit challenges, it sees one. */
async function flipBytes(path: string): Promise<void> {
  const file = await open(path, 'r+')
  try {
    const size = (await file.stat()).size
    for (let offset = 7; offset < size; offset += 16 * 1024) {
      const byte = Buffer.alloc(1)
      await file.read(byte, 0, 1, offset)
      byte[0] = (byte[0] as number) ^ 0x01
      await file.write(byte, 0, 1, offset)
    }
  } finally {
    await file.close()
  }
}

const bad = new Set<string>()

describe('audits and repair with real processes', { timeout: 150_000 }, () => {
  it('places no two pieces of a segment in one failure domain, and audits every piece', async () => {
    // The rules only: whether every node is online right now depends on heartbeats, which are late under load.
    expect(await unhealthy(bad)).toEqual([])
    const pieces = (await placements()).reduce((n, p) => n + p.pieces.length, 0)
    figures.pieces = pieces
    await waitUntil('every piece audited once', async () => (await metric('shoal_audit_leaves_checked_total')) > 0)
    await waitUntil('a round with every piece passed', async () => {
      const text = await (await fetch(`${net.tracker.url}/metrics`)).text()
      const passed = Number(/shoal_audits_total\{result="passed"\} (\d+)/.exec(text)?.[1] ?? 0)
      return passed >= pieces
    })
  })

  it('catches flipped bytes on a disk, repairs the piece elsewhere, and lowers the node score', async () => {
    // Under load a node's heartbeat can be late enough for the repairer to move a piece away before any audit
    // reads it; the flipped bytes then sit in a piece nobody refers to. Such a try proves nothing either way and
    // is made again on a piece that is still placed.
    for (let attempt = 1; ; attempt++) {
      const target = (await placements())[0]?.pieces[0] as { index: number; cid: string; node: string }
      const stillPlaced = async (): Promise<boolean> => {
        const p = (await placements()).find((x) => x.pieces.some((y) => y.cid === target.cid))
        return p?.pieces.find((y) => y.index === target.index)?.node === target.node
      }
      // Read before the bytes flip: an audit may catch them before this test looks.
      const before = await metric('shoal_audit_corruptions_total')
      await flipBytes(await piecePath(target.node, target.cid))
      let detected = false
      figures.corruptionDetectMs = await waitUntil(
        'corruption detected, or the piece moved for another reason',
        async () => {
          detected = (await metric('shoal_audit_corruptions_total')) > before
          return detected || !(await stillPlaced())
        }
      )
      if (!detected) {
        if (attempt === 3) throw new Error('three corrupted pieces were moved away before any audit read them')
        continue
      }
      figures.corruptionRepairMs = await waitUntil('corrupt piece moved', async () => !(await stillPlaced()))
      expect((await reputation(target.node)).auditScore).toBeLessThan(1)
      break
    }
    await downloadAll()
  })

  it('disqualifies a node whose disk answers random bytes, and heals around it', async () => {
    const victim = (await placements())[1]?.pieces[1]?.node as string
    const dir = join(net.nodes[indexOf(victim)]?.dataDir as string, 'pieces')
    for (const shard of await readdir(dir)) {
      for (const name of await readdir(join(dir, shard))) {
        const path = join(dir, shard, name)
        await writeFile(path, randomBytes((await stat(path)).size))
      }
    }
    const started = Date.now()
    await waitUntil('disqualified', async () => (await reputation(victim)).disqualified !== undefined)
    figures.randomBytesDisqualifyMs = Date.now() - started
    expect((await reputation(victim)).disqualified?.reason).toMatch(/audit score/)
    bad.add(victim)
    await waitUntil('healed around the liar', () => fullHealth(bad))
    figures.randomBytesHealMs = Date.now() - started
    await downloadAll()
  })

  it('a stalled node (SIGSTOP) goes offline, its pieces are repaired, and it is disqualified after --max-offline', async () => {
    const holder = (await placements())[2]?.pieces[0]?.node as string
    const node = net.nodes[indexOf(holder)]
    if (node === undefined) throw new Error('no node')
    const started = Date.now()
    process.kill(node.pid, 'SIGSTOP')
    bad.add(holder)
    try {
      await waitUntil('healed around the stalled node', () => fullHealth(bad))
      figures.stalledHealMs = Date.now() - started
      await waitUntil('stalled node disqualified', async () => (await reputation(holder)).disqualified !== undefined)
      figures.stalledDisqualifyMs = Date.now() - started
      // Which comes first depends on load: audits that time out (each retried first) or the offline clock.
      expect((await reputation(holder)).disqualified?.reason).toMatch(/offline|audit score/)
    } finally {
      continue_(node.pid)
    }
    await net.killNode(node.index)
  })

  it('kill nodes for good until segments fall below the threshold: every segment returns to full health', async () => {
    const candidates = net.nodes.filter((n) => n.running && !bad.has(n.peerId))
    const victims = candidates.slice(0, 2)
    const started = Date.now()
    for (const v of victims) {
      await net.killNode(v.index)
      bad.add(v.peerId)
    }
    await waitUntil(
      'below threshold noticed',
      async () => (await metric('shoal_segments_below_threshold')) > 0,
      30_000
    ).catch(() => 0)
    await waitUntil('healed after two nodes died', () => fullHealth(bad))
    figures.killTwoHealMs = Date.now() - started
    expect(await metric('shoal_segments_lost')).toBe(0)
    await downloadAll()
  })

  it('restarting every process mid-repair loses nothing and places nothing twice', async () => {
    // Counters live in the tracker process: read them before it restarts.
    figures.corruptionsDetected = await metric('shoal_audit_corruptions_total')
    figures.leavesChecked = await metric('shoal_audit_leaves_checked_total')
    const repairedBefore = await metric('shoal_segments_repaired_total')
    figures.segmentsRepaired = repairedBefore
    figures.piecesRepaired = await metric('shoal_pieces_repaired_total')
    // Repairs run on storage nodes (repair orders): the tracker moved none of those bytes itself.
    figures.segmentsRepairedByNodes = await metric('shoal_segments_repaired_by_nodes_total')
    expect(figures.segmentsRepairedByNodes).toBeGreaterThan(0)
    const victim = net.nodes.find((n) => n.running && !bad.has(n.peerId)) as { index: number; peerId: string }
    await net.killNode(victim.index)
    bad.add(victim.peerId)
    const started = Date.now()
    // Mid-repair: as soon as the tracker acts on the dead node, every process goes down and comes back. The
    // node watch queues and repairs the node's segments in the tick that finds it offline, so a pass of the
    // check (the only thing that sets segments_below_threshold) may never see one below: a repair done counts.
    await waitUntil(
      'repair under way',
      async () =>
        (await metric('shoal_segments_below_threshold')) > 0 ||
        (await metric('shoal_segments_repaired_total')) > repairedBefore,
      60_000
    )
    await net.restartTracker()
    await Promise.all(net.nodes.filter((x) => x.running).map((n) => net.restartNode(n.index)))
    await net.waitForOnline(undefined, 90_000)
    await waitUntil('healed after restarts', () => fullHealth(bad), 200_000)
    figures.restartHealMs = Date.now() - started
    for (const p of await placements()) {
      expect(p.pieces).toHaveLength(K + M)
      expect(new Set(p.pieces.map((x) => x.node)).size).toBe(K + M)
    }
    await downloadAll()
    figures.piecesRepairedAfterRestart = await metric('shoal_pieces_repaired_total')
  }, 300_000)
})
