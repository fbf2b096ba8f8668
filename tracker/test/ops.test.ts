import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createClientPeer, requestRepair, ShoalClient } from '@shoal/client'
import {
  ErrorCode,
  KiB,
  PROTOCOL_AUDIT,
  REPAIR_ACCOUNT,
  type SegmentManifest,
  type ShoalError,
  signGrant,
  signRepairOrder
} from '@shoal/core'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNode, type ShoalNode } from '../../node/src/index.ts'
import { shardOf } from '../../node/src/piece-store.ts'
import { periodOf } from '../src/billing/metering.ts'
import { Auditor } from '../src/ops/auditor.ts'
import { resolveOps } from '../src/ops/ops-config.ts'
import { Repairer } from '../src/ops/repairer.ts'
import { failedPiece } from '../src/ops/reputation.ts'
import { Reputations } from '../src/ops/reputations.ts'
import { LevelStore } from '../src/store/level-store.ts'
import type { SettlementRecord } from '../src/store/store.ts'
import { createTracker, type Tracker } from '../src/tracker.ts'

/**
 * Audits, reputation and repair against real nodes (in this process, on loopback) and a real client. The loops
 * are off: each test runs audit rounds and repair passes itself, so it knows exactly what happened.
 */
const HEARTBEAT_MS = 2000
const NODE_BIN = fileURLToPath(new URL('../../node/bin/shoal-node.js', import.meta.url))
let dir: string
let tracker: Tracker
let store: LevelStore
const nodes: ShoalNode[] = []
let client: ShoalClient
const files = new Map<string, Uint8Array>()

async function startNode(i: number): Promise<ShoalNode> {
  const node = await createNode({
    dataDir: join(dir, `node-${i}`),
    trackerUrl: tracker.url,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    heartbeatIntervalMs: HEARTBEAT_MS,
    // The test sweeps itself, and judges every piece stored before the list.
    retainIntervalMs: 3_600_000,
    retainGraceMs: 0,
    // Receipts (downloads' and repair workers') reach the tracker within a second.
    settlementIntervalMs: 500
  })
  await node.start()
  return node
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-ops-test-'))
  store = new LevelStore({ location: join(dir, 'tracker-store') })
  tracker = createTracker({
    dataDir: join(dir, 'tracker'),
    store,
    logger: (await import('pino')).pino({ level: process.env.OPS_LOG ?? 'silent' }),
    port: 0,
    heartbeatIntervalMs: HEARTBEAT_MS,
    policy: { k: 2, m: 2, segmentSize: 64 * KiB },
    ops: {
      auditIntervalMs: 0,
      repairIntervalMs: 0,
      auditRate: 1,
      auditLeaves: 4,
      auditTimeoutMs: 8000,
      auditRetries: 1,
      auditLambda: 0.8,
      auditDisqualify: 0.6,
      vettingAudits: 1,
      newNodeFraction: 1,
      repairMargin: 1,
      // These tests stop nodes for good and check at once (the grace has its own test, repair-health.test.ts).
      repairOfflineGraceMs: 0,
      // Exact retain filters, so the test knows which orphans go (false positives have their own test).
      retainFalsePositiveRate: 1e-9
    }
  })
  await tracker.start()
  for (let i = 0; i < 9; i++) nodes.push(await startNode(i))
  await waitFor(async () => (await onlineCount()) === 9)
  client = await ShoalClient.signup({ tracker: tracker.url, email: 'ops@example.com', password: 'a long password' })
  for (const [name, size] of [
    ['a.bin', 200 * KiB],
    ['b.bin', 70 * KiB],
    ['c.bin', 1000]
  ] as const) {
    const bytes = new Uint8Array(randomBytes(size))
    await client.put(name, [bytes], size)
    files.set(name, bytes)
  }
}, 120_000)

afterAll(async () => {
  await client?.stop()
  for (const node of nodes) await node.stop()
  await tracker?.stop()
  await rm(dir, { recursive: true, force: true })
})

async function onlineCount(): Promise<number> {
  const response = await fetch(`${tracker.url}/v1/nodes`)
  const { nodes: views } = (await response.json()) as { nodes: { online: boolean }[] }
  return views.filter((v) => v.online).length
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Settled receipts for repair reads: egress paid to sources, billed to no customer. */
async function repairReads(): Promise<SettlementRecord[]> {
  return store.ledger.listSettlements({ account: REPAIR_ACCOUNT, from: 0, to: Date.now() + 60_000 })
}

async function segments(): Promise<SegmentManifest[]> {
  return (await store.objects.listSegments(undefined, 10_000)).map((s) => s.segment)
}

async function downloadAll(): Promise<void> {
  for (const [name, bytes] of files) {
    const { stream } = await client.get(name)
    const chunks: Uint8Array[] = []
    for await (const chunk of stream) chunks.push(chunk)
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes)), name).toBe(true)
  }
}

function nodeById(peerId: string): ShoalNode {
  const node = nodes.find((n) => n.peerId.toString() === peerId)
  if (node === undefined) throw new Error(`no node ${peerId}`)
  return node
}

async function pieceFiles(node: ShoalNode): Promise<string[]> {
  const out: string[] = []
  const root = join(node.dataDir, 'pieces')
  for (const shard of await readdir(root))
    for (const name of await readdir(join(root, shard))) out.push(join(root, shard, name))
  return out
}

async function flipByte(node: ShoalNode, cid: string, offset: number): Promise<void> {
  const file = await open(join(node.dataDir, 'pieces', shardOf(cid), cid), 'r+')
  const byte = Buffer.alloc(1)
  await file.read(byte, 0, 1, offset)
  byte[0] = (byte[0] as number) ^ 0xff
  await file.write(byte, 0, 1, offset)
  await file.close()
}

/** Every segment has k + m pieces on distinct nodes, none of them on `excluded`. */
async function expectFullHealth(excluded: readonly string[] = []): Promise<void> {
  for (const s of await segments()) {
    expect(s.pieces).toHaveLength(4)
    expect(new Set(s.pieces.map((p) => p.node)).size).toBe(4)
    expect(new Set(s.pieces.map((p) => p.index)).size).toBe(4)
    for (const p of s.pieces) expect(excluded).not.toContain(p.node)
  }
}

describe('audits, reputation and repair', () => {
  it('records a Merkle root with every piece and passes every audit of honest nodes', async () => {
    // Under load a heartbeat can be late: audit once every node is seen online.
    await waitFor(async () => (await onlineCount()) === 9, 60_000)
    const results = await tracker.maintenance.auditor.round()
    const pieces = (await segments()).reduce((sum, s) => sum + s.pieces.length, 0)
    expect(results).toHaveLength(pieces)
    expect(results.filter((r) => r.outcome !== 'passed').map((r) => `${r.outcome} ${r.target.piece.node}`)).toEqual([])
    for (const r of results) expect(r.target.piece.root).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const metrics = await (await fetch(`${tracker.url}/metrics`)).text()
    expect(metrics).toContain(`shoal_audits_total{result="passed"} ${pieces}`)
    expect(metrics).toContain('shoal_repair_queue_length 0')
  })

  it('with repair on, the audit round rides the repair pass (no walk of its own) and samples within its budget', async () => {
    await waitFor(async () => (await onlineCount()) === 9, 60_000)
    const c = tracker.components
    const pieces = (await segments()).reduce((sum, s) => sum + s.pieces.length, 0)
    const budget = 3
    // A pass due at once and read in one tick; every piece wanted by the rate, three allowed by the budget.
    const settings = resolveOps({
      ...c.config.ops,
      auditIntervalMs: 1,
      repairIntervalMs: 1,
      repairScanSegmentsPerSecond: 1_000_000,
      auditRate: 1,
      auditBudget: budget
    })
    const parts = {
      store: c.store,
      registry: c.registry,
      reputations: c.reputations,
      signer: c.signer,
      peer: () => c.peer.get(),
      settings,
      clock: c.config.clock,
      logger: pino({ level: 'silent' })
    }
    const auditor = new Auditor(parts)
    const repairer = new Repairer(parts)
    repairer.carry(auditor.rideAlong())
    const walked: string[] = []
    const list = c.store.objects.listSegments.bind(c.store.objects)
    c.store.objects.listSegments = (after, limit) => {
      walked.push('listSegments')
      return list(after, limit)
    }
    try {
      // The auditor alone reads no segment: nothing is planned until the repair check walks.
      await auditor.tick()
      expect(walked).toEqual([])
      expect(auditor.stats.rounds).toBe(0)
      // It audits only nodes heard from since it was made (older addresses may be stale): one heartbeat each.
      const madeAt = c.config.clock.now()
      await waitFor(async () => (await c.registry.online()).filter((n) => n.lastSeen >= madeAt).length === 9)
      await repairer.tick()
      expect(walked.length).toBeGreaterThan(0)
      walked.length = 0
      await auditor.tick()
      expect(walked).toEqual([])
      expect(auditor.stats.rounds).toBe(1)
      const { passed, failed, timeout } = auditor.stats.results
      // At most the budget at random, plus one for each node none of those reached: fewer than every piece.
      expect(passed + failed + timeout).toBeLessThanOrEqual(budget + nodes.length)
      expect(passed + failed + timeout).toBeLessThan(pieces)
      expect(passed).toBeGreaterThanOrEqual(nodes.length)
      expect(failed + timeout).toBe(0)
    } finally {
      c.store.objects.listSegments = list
    }
  })

  it('catches a flipped byte on disk, lowers the score, and repairs the piece elsewhere', async () => {
    const segment = (await segments())[0] as SegmentManifest
    const victim = segment.pieces[0] as { index: number; cid: string; node: string }
    const before = tracker.maintenance.auditor.stats.corruptionsDetected
    await flipByte(nodeById(victim.node), victim.cid, 100)
    const results = await tracker.maintenance.auditor.round()
    const failed = results.filter((r) => r.outcome === 'failed')
    expect(failed.map((r) => r.target.piece.cid)).toEqual([victim.cid])
    expect(tracker.maintenance.auditor.stats.corruptionsDetected).toBe(before + 1)
    const rep = (await (await fetch(`${tracker.url}/v1/nodes/${victim.node}/reputation`)).json()) as {
      auditScore: number
    }
    expect(rep.auditScore).toBeLessThan(1)
    // The failure is in the store, not only in this process: a restarted tracker (or another one taking over
    // audits and repair) still counts the piece lost.
    const fresh = new Reputations({ store, policy: resolveOps(), clock: { now: () => Date.now() }, logger: pino() })
    await fresh.refresh()
    expect(failedPiece(fresh.get(victim.node), victim.cid)).toBe(true)
    // The next round audits every piece the failing node holds, and (the sampling rate at 0 for a moment) one
    // piece of each other node.
    const settings = tracker.config.ops as { auditRate: number }
    settings.auditRate = 0
    try {
      const next = await tracker.maintenance.auditor.round()
      const held = (await segments()).flatMap((seg) => seg.pieces).filter((p) => p.node === victim.node)
      expect(next.filter((r) => r.target.piece.node === victim.node)).toHaveLength(held.length)
      expect(held.length).toBeGreaterThan(1)
      const perNode = new Map<string, number>()
      for (const r of next) perNode.set(r.target.piece.node, (perNode.get(r.target.piece.node) ?? 0) + 1)
      perNode.delete(victim.node)
      expect(new Set(perNode.values())).toEqual(new Set([1]))
    } finally {
      settings.auditRate = 1
    }
    await tracker.maintenance.repairer.check()
    expect(tracker.maintenance.repairer.queueLength).toBeGreaterThanOrEqual(1)
    await tracker.maintenance.repairer.drain()
    const repaired = (await segments()).find((s) => s.pieces.some((p) => p.cid === victim.cid))
    const moved = repaired?.pieces.find((p) => p.index === victim.index)
    expect(moved?.cid).toBe(victim.cid)
    expect(moved?.node).not.toBe(victim.node)
    // A storage node rebuilt it on the tracker's order: the bytes never passed through the tracker.
    expect(tracker.maintenance.repairer.stats.repairedByNodes).toBeGreaterThan(0)
    expect(nodes.some((n) => n.stats.repairs.rebuilt > 0)).toBe(true)
    // The sources the worker read from are paid for that egress: the worker signs receipts as a client does,
    // the sources settle them, and they are booked to the network's repair account, not to the file's owner.
    await waitFor(async () => (await repairReads()).length >= 2)
    const reads = await repairReads()
    const holders = new Set(repaired?.pieces.filter((p) => p.index !== victim.index).map((p) => p.node))
    expect(reads.every((r) => holders.has(r.node) && r.bytes > 0)).toBe(true)
    const paid = reads[0] as SettlementRecord
    const earnings = await tracker.billing.nodeEarnings(paid.node, periodOf(Date.now()))
    const servedToRepairs = reads.filter((r) => r.node === paid.node).reduce((sum, r) => sum + r.bytes, 0)
    expect(earnings.repairEgressBytes).toBe(servedToRepairs)
    expect(earnings.egressBytes).toBeGreaterThanOrEqual(servedToRepairs)
    await expectFullHealth()
    await downloadAll()
    // The repaired piece passes its audits on its new node.
    expect((await tracker.maintenance.auditor.round()).every((r) => r.outcome === 'passed')).toBe(true)
  })

  it('disqualifies a node that answers with random bytes; its pieces are rebuilt on others', async () => {
    const holder = (await segments())[1]?.pieces[1]?.node as string
    const liar = nodeById(holder)
    for (const path of await pieceFiles(liar)) await writeFile(path, randomBytes((await stat(path)).size))
    for (let round = 0; round < 5; round++) {
      await tracker.maintenance.auditor.round()
      const rep = (await (await fetch(`${tracker.url}/v1/nodes/${holder}/reputation`)).json()) as {
        disqualified?: unknown
      }
      if (rep.disqualified !== undefined) break
    }
    const rep = (await (await fetch(`${tracker.url}/v1/nodes/${holder}/reputation`)).json()) as {
      disqualified?: { reason: string }
      auditScore: number
    }
    expect(rep.disqualified?.reason).toMatch(/audit score/)
    await tracker.maintenance.repairer.check()
    await tracker.maintenance.repairer.drain()
    await expectFullHealth([holder])
    await downloadAll()
  })

  it('a node that stalls on audits is retried, then failed, then disqualified', async () => {
    const holder = (await segments())[2]?.pieces[2]?.node as string
    const staller = nodeById(holder)
    await staller.libp2p.unhandle(PROTOCOL_AUDIT)
    // Reads the request and never answers: heartbeats go on, so the node looks online.
    await staller.libp2p.handle(PROTOCOL_AUDIT, () => undefined)
    const outcomes: string[] = []
    let contained: string | undefined
    for (let round = 0; round < 8; round++) {
      const results = await tracker.maintenance.auditor.round()
      // Skipped: once it timed out in a round, its other audits wait for the next one.
      const own = results.filter((r) => r.target.piece.node === holder && r.outcome !== 'skipped')
      // Contained: from the second round on, it is asked for the one piece it did not deliver, and only that.
      if (round > 0) expect(own.map((r) => r.target.piece.cid)).toEqual([contained])
      outcomes.push(...own.map((r) => r.outcome))
      contained = (
        (await (await fetch(`${tracker.url}/v1/nodes/${holder}/reputation`)).json()) as {
          pending?: { piece: string }
        }
      ).pending?.piece
      const rep = (await (await fetch(`${tracker.url}/v1/nodes/${holder}/reputation`)).json()) as {
        disqualified?: unknown
      }
      if (rep.disqualified !== undefined) break
    }
    // Every audit of it timed out; the first was retried, the ones after it counted as failures.
    expect(outcomes.length).toBeGreaterThan(1)
    expect(new Set(outcomes)).toEqual(new Set(['timeout']))
    const rep = (await (await fetch(`${tracker.url}/v1/nodes/${holder}/reputation`)).json()) as {
      disqualified?: unknown
      audits: { timedOut: number; failed: number }
    }
    expect(rep.disqualified).toBeDefined()
    expect(rep.audits.timedOut).toBeGreaterThan(1)
    expect(rep.audits.failed).toBeGreaterThanOrEqual(1)
    await tracker.maintenance.repairer.check()
    await tracker.maintenance.repairer.drain()
    await expectFullHealth([holder])
  }, 150_000)

  it('a node leaving gracefully (shoal-node exit) has every piece moved, then holds nothing', async () => {
    const leaving = nodeById((await segments())[0]?.pieces[3]?.node as string)
    const exit = spawn(process.execPath, [NODE_BIN, 'exit', '--data', leaving.dataDir, '--tracker', tracker.url], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const output: string[] = []
    exit.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()))
    const exited = new Promise<number | null>((resolve) => exit.once('exit', resolve))
    await waitFor(async () => output.join('').includes('pieces left to move'))
    expect(output.join('')).toMatch(/[1-9]\d* pieces left to move/)
    // No new pieces go to it meanwhile, and the repairer moves its pieces while it still serves them.
    await tracker.maintenance.repairer.check()
    expect(tracker.maintenance.repairer.stats.exiting).toBeGreaterThan(0)
    await tracker.maintenance.repairer.drain()
    expect(await exited).toBe(0)
    expect(output.join('')).toContain('the node can be stopped')
    await expectFullHealth([leaving.peerId.toString()])
    // Its pieces were handed delete orders: its disk use falls to nothing.
    await waitFor(async () => leaving.stats.store.pieces === 0)
    await downloadAll()
    await leaving.stop()
  })

  it('a retain list lets a node drop pieces whose delete orders were lost, and nothing else', async () => {
    const bytes = new Uint8Array(randomBytes(100 * 1024))
    await client.put('orphan.bin', [bytes], bytes.byteLength)
    const info = await client.stat('orphan.bin')
    const placed = (await store.objects.getObjectSegments(info.id, 0, 2)).flatMap((s) => s.pieces)
    const holder = nodes.find(
      (n) => n.status === 'started' && placed.some((p) => p.node === n.peerId.toString()) && n.stats.store.pieces > 2
    ) as ShoalNode
    const id = holder.peerId.toString()
    const orphans = placed.filter((p) => p.node === id).length
    await holder.stop()
    await client.tracker.deleteObject(info.id)
    // The orders for the stopped node get lost (acknowledged by a heartbeat record it never sent).
    const orders = await store.nodes.listDeleteOrders(id, 1000)
    expect(orders.length).toBe(orphans)
    const record = await store.nodes.getNode(id)
    await store.nodes.recordHeartbeat(
      { ...(record as NonNullable<typeof record>), lastAt: (record?.lastAt ?? 0) + 1 },
      orders.map((o) => o.serial)
    )
    expect(await store.nodes.listDeleteOrders(id, 1000)).toEqual([])
    await holder.start()
    const before = holder.stats.store.pieces
    const builds = tracker.maintenance.retain.builds
    const result = await holder.collectGarbage()
    expect(result).toMatchObject({ deleted: orphans, kept: before - orphans })
    expect(holder.stats.store.pieces).toBe(before - orphans)
    // One walk made every node's filter: another node's sweep now is served from it.
    expect(tracker.maintenance.retain.builds).toBe(builds + 1)
    const other = nodes.find((n) => n !== holder && n.status === 'started') as ShoalNode
    expect((await other.collectGarbage()).refused).toBeUndefined()
    expect(tracker.maintenance.retain.builds).toBe(builds + 1)
    // Everything else it holds is still there and still passes its audits.
    const audited = (await tracker.maintenance.auditor.round()).filter((r) => r.target.piece.node === id)
    expect(audited.length).toBe(before - orphans)
    expect(audited.every((r) => r.outcome === 'passed')).toBe(true)
    await downloadAll()
  })

  it('a round in which most nodes fail to answer counts against none of them (the trouble is on the tracker side)', async () => {
    const reputation = async (id: string) =>
      (await (await fetch(`${tracker.url}/v1/nodes/${id}/reputation`)).json()) as {
        disqualified?: unknown
        pending?: unknown
        audits: { passed: number; failed: number; timedOut: number }
      }
    const good: ShoalNode[] = []
    for (const n of nodes) {
      if (n.status === 'started' && (await reputation(n.peerId.toString())).disqualified === undefined) good.push(n)
    }
    expect(good.length).toBeGreaterThanOrEqual(4)
    const silent = good.slice(0, Math.floor(good.length / 2) + 1)
    const before = new Map<string, { passed: number; failed: number; timedOut: number }>()
    for (const n of silent) {
      before.set(n.peerId.toString(), (await reputation(n.peerId.toString())).audits)
      await n.libp2p.unhandle(PROTOCOL_AUDIT)
    }
    const results = await tracker.maintenance.auditor.round()
    for (const n of silent) {
      const id = n.peerId.toString()
      const own = results.filter((r) => r.target.piece.node === id && r.outcome !== 'skipped')
      expect(own.map((r) => r.outcome)).toContain('timeout')
      const rep = await reputation(id)
      expect(rep.pending).toBeUndefined()
      expect(rep.audits).toEqual(before.get(id))
    }
    // Restarted, they answer again and pass.
    for (const n of silent) {
      await n.stop()
      await n.start()
    }
    await waitFor(async () => {
      const { nodes: views } = (await (await fetch(`${tracker.url}/v1/nodes`)).json()) as {
        nodes: { peerId: string; addrs: string[] }[]
      }
      return silent.every((n) => {
        const view = views.find((v) => v.peerId === n.peerId.toString())
        return n.libp2p.getMultiaddrs().every((a) => view?.addrs.includes(a.toString().replace(/\/p2p\/.*$/, '')))
      })
    })
    const again = await tracker.maintenance.auditor.round()
    const silentIds = new Set(silent.map((n) => n.peerId.toString()))
    const theirs = again.filter((r) => silentIds.has(r.target.piece.node))
    expect(theirs.length).toBeGreaterThan(0)
    expect(theirs.every((r) => r.outcome === 'passed')).toBe(true)
  })

  it('brings every segment back to full health after nodes die for good, and every file still downloads', async () => {
    const alive = nodes.filter((n) => n.status === 'started')
    // Two nodes that hold pieces (the disqualified ones still run, but hold nothing any more).
    const holders = new Set((await segments()).flatMap((seg) => seg.pieces.map((p) => p.node)))
    const victims = alive.filter((n) => holders.has(n.peerId.toString())).slice(0, 2)
    expect(victims).toHaveLength(2)
    for (const v of victims) await v.stop()
    await waitFor(async () => (await onlineCount()) <= alive.length - 2)
    await tracker.maintenance.repairer.check()
    expect(tracker.maintenance.repairer.stats.belowThreshold).toBeGreaterThan(0)
    // This time the tracker rebuilds and stores the pieces itself (--repair-by tracker, and its fallback).
    const settings = tracker.config.ops as { repairBy: string }
    const byNodes = tracker.maintenance.repairer.stats.repairedByNodes
    const repaired = tracker.maintenance.repairer.stats.repaired
    const paidReads = (await repairReads()).length
    settings.repairBy = 'tracker'
    try {
      await tracker.maintenance.repairer.drain()
    } finally {
      settings.repairBy = 'nodes'
    }
    expect(tracker.maintenance.repairer.stats.repaired).toBeGreaterThan(repaired)
    expect(tracker.maintenance.repairer.stats.repairedByNodes).toBe(byNodes)
    // The sources the tracker read from are paid too: its own receipts, settled by them.
    await waitFor(async () => (await repairReads()).length > paidReads)
    await tracker.maintenance.repairer.check()
    // On failure, the message carries what is needed to see why: the repairer's figures, the placements, the nodes.
    const why = JSON.stringify({
      stats: tracker.maintenance.repairer.stats,
      segments: await segments(),
      nodes: nodes.map((n) => [n.peerId.toString(), n.status])
    })
    expect(tracker.maintenance.repairer.stats.belowThreshold, why).toBe(0)
    expect(tracker.maintenance.repairer.stats.lost).toBe(0)
    await expectFullHealth(victims.map((v) => v.peerId.toString()))
    await downloadAll()
  })

  it("a node carries out a repair order only when every grant in it is the tracker's", async () => {
    const [worker, holder, target] = nodes.filter((n) => n.status === 'started')
    const address = (n: ShoalNode) => ({
      peerId: n.peerId.toString(),
      addrs: n.libp2p.getMultiaddrs().map((a) => a.toString().replace(/\/p2p\/.*$/, ''))
    })
    const seg = (await segments())[0] as SegmentManifest
    const piece = seg.pieces[0] as { index: number; cid: string; node: string }
    const forger = await generateKeyPair('Ed25519')
    const now = Date.now()
    const forged = (kind: 'get' | 'put', node: string) =>
      signGrant(forger, {
        v: 1,
        kind,
        piece: piece.cid,
        node,
        account: 'nobody',
        size: 64 * KiB,
        serial: `forged-${kind}`,
        iat: now,
        exp: now + 60_000
      })
    const order = {
      k: 2,
      m: 2,
      pieceSize: 64 * KiB,
      sources: [
        {
          index: piece.index,
          cid: piece.cid,
          node: address(holder as ShoalNode),
          grant: await forged('get', (holder as ShoalNode).peerId.toString())
        }
      ],
      targets: [
        {
          index: piece.index,
          cid: piece.cid,
          node: address(target as ShoalNode),
          grant: await forged('put', (target as ShoalNode).peerId.toString())
        }
      ]
    }
    const storedBefore = (target as ShoalNode).stats.store.pieces
    const peer = await createClientPeer()
    await peer.start()
    try {
      // Signed, but not by the tracker: refused before anything is read or allocated.
      const signed = await signRepairOrder(forger, {
        v: 2,
        kind: 'repair',
        worker: (worker as ShoalNode).peerId.toString(),
        iat: now,
        exp: now + 60_000,
        ...order
      })
      const err = (await requestRepair(peer, address(worker as ShoalNode), signed).catch((e) => e)) as ShoalError
      expect(err.code).toBe(ErrorCode.GRANT_INVALID)
      const unsigned = (await requestRepair(peer, address(worker as ShoalNode), 'no.order').catch(
        (e) => e
      )) as ShoalError
      expect(unsigned.code).toBe(ErrorCode.GRANT_INVALID)
      // Nothing was stored on the target.
      expect((target as ShoalNode).stats.store.pieces).toBe(storedBefore)
    } finally {
      await peer.stop()
    }
  })

  it('exports audit and repair figures for Prometheus', async () => {
    const text = await (await fetch(`${tracker.url}/metrics`)).text()
    expect(text).toMatch(/shoal_node_audit_score\{node="[^"]+"\} 1\n/)
    expect(text).toContain('shoal_nodes_disqualified 2')
    // Three stopped: the one that left and the two killed.
    expect(text).toMatch(/shoal_nodes\{state="offline"\} 3/)
    expect(text).toMatch(/shoal_pieces_repaired_total [1-9]/)
    expect(text).toContain('# TYPE shoal_audits_total counter')
    // From prom-client: libp2p's metrics of the peer that audited and repaired, the API's latency by route.
    expect(text).toMatch(
      /libp2p_connection_manager_connections\{libp2p_connection_manager_connections="outbound"\} \d+/
    )
    expect(text).toMatch(/libp2p_data_transfer_bytes_total\{protocol="global sent"\} \d+/)
    expect(text).toMatch(
      /shoal_tracker_http_request_duration_seconds_count\{method="POST",route="\/v1\/nodes\/heartbeat",status="200"\} [1-9]/
    )
  })
})
