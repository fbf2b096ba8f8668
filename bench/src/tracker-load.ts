/**
 * Tracker load benchmark: download-grant requests and receipt settlements per second, with latency
 * percentiles, against real tracker processes on the embedded level store and on PostgreSQL (one and two
 * trackers sharing one database). The load comes from this process over HTTP keep-alive on loopback, through a
 * lean client (http-load-client.ts) so that the generator takes little of the CPU it shares with the trackers.
 *
 *   node bench/src/tracker-load.ts [--seconds 10] [--concurrency 32] [--configs level:1,pg:1,pg:2] [--grants-only] [--append]
 *
 * --append adds a dated section to bench/RESULTS.md. PostgreSQL runs need a server at 127.0.0.1:5432 (user
 * postgres, trust auth): each run creates a database of its own and drops it.
 */
import { type ChildProcess, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { appendFile, mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ReceiptSigner } from '@shoal/client'
import {
  type BeginUploadResponse,
  type DownloadGrantsResponse,
  type PlaceSegmentResponse,
  pieceCid,
  signToken,
  toBase64Url,
  utf8
} from '@shoal/core'
import { HttpLoadClient } from './http-load-client.ts'
import { totalCpuSeconds } from './proc-cpu.ts'
import { backendPids, PG, percentile, signPutReceipts, startTracker, TRACKER_BIN } from './tracker-process.ts'

function loadAverage(): string {
  return loadavg()[0]?.toFixed(1) ?? '-'
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Any well-formed Merkle root: a put receipt must sign one (nobody audits these pieces). */
const BENCH_ROOT = 'A'.repeat(43)
const SEGMENTS = 64
const SETTLE_BATCH = 100

interface Config {
  store: 'level' | 'pg'
  trackers: number
}

interface Latencies {
  count: number
  seconds: number
  p50: number
  p99: number
}

async function post<T>(url: string, body: unknown, token?: string): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) })
  return { status: response.status, body: (await response.json()) as T }
}

async function ok<T>(promise: Promise<{ status: number; body: T }>): Promise<T> {
  const r = await promise
  if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`)
  return r.body
}

class BenchNode {
  readonly key: PrivateKey
  readonly peerId: string
  #at = 0
  constructor(key: PrivateKey) {
    this.key = key
    this.peerId = peerIdFromPrivateKey(key).toString()
  }
  async heartbeat(url: string): Promise<void> {
    this.#at = Math.max(Date.now(), this.#at + 1)
    const token = await signToken(this.key, {
      v: 1,
      kind: 'heartbeat',
      node: this.peerId,
      addrs: ['/ip4/127.0.0.1/tcp/4001'],
      capacity: 100 * 2 ** 30,
      used: 0,
      free: 100 * 2 ** 30,
      at: this.#at,
      version: 'bench',
      deleted: []
    })
    await ok(post(`${url}/v1/nodes/heartbeat`, { token }))
  }
}

/** Three nodes, an account and one committed object of SEGMENTS 1 KiB segments (k=2, m=1). */
async function setup(url: string): Promise<{ token: string; objectId: string; nodes: BenchNode[] }> {
  const nodes = await Promise.all([0, 1, 2].map(async () => new BenchNode(await generateKeyPair('Ed25519'))))
  for (const n of nodes) await n.heartbeat(url)
  const authKey = toBase64Url(randomBytes(32))
  const email = `bench-${randomBytes(4).toString('hex')}@example.com`
  const { token } = await ok(
    post<{ token: string }>(`${url}/v1/accounts`, { email, authKey, wrappedMasterKey: 'bWFzdGVy' })
  )
  const size = SEGMENTS * 1024
  const upload = await ok(
    post<BeginUploadResponse>(
      `${url}/v1/uploads`,
      { nameHash: toBase64Url(randomBytes(32)), size, meta: 'bWV0YQ', wrappedKey: 'a2V5', nonce: 'AAAAAAAAAAA' },
      token
    )
  )
  const byId = new Map(nodes.map((n) => [n.peerId, n]))
  const pieceSize = Math.ceil((1024 + 16) / 2)
  for (let s = 0; s < SEGMENTS; s++) {
    const pieces = await Promise.all(
      [0, 1, 2].map(async (index) => ({
        index,
        cid: (await pieceCid(utf8(`${upload.uploadId}/${s}/${index}`))).toString(),
        size: pieceSize
      }))
    )
    const placed = await ok(
      post<PlaceSegmentResponse>(`${url}/v1/uploads/${upload.uploadId}/segments/${s}/place`, { pieces }, token)
    )
    const receipts = await signPutReceipts(placed, (peer) => (byId.get(peer) as BenchNode).key, BENCH_ROOT)
    await ok(post(`${url}/v1/uploads/${upload.uploadId}/segments/${s}/commit`, { pieces: receipts }, token))
  }
  const committed = await ok(post<{ object: { id: string } }>(`${url}/v1/uploads/${upload.uploadId}/commit`, {}, token))
  return { token, objectId: committed.object.id, nodes }
}

/** Runs `request(i)` from `concurrency` workers for `seconds`; latencies in ms. */
async function load(
  seconds: number,
  concurrency: number,
  request: (i: number, worker: number) => Promise<void>,
  limit = Number.POSITIVE_INFINITY
): Promise<Latencies> {
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline && next < limit) {
        const i = next++
        const t0 = performance.now()
        await request(i, worker)
        latencies.push(performance.now() - t0)
      }
    })
  )
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return { count: latencies.length, seconds: elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}

async function runConfig(config: Config, seconds: number, concurrency: number, settlements: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-tracker-load-'))
  const db = `shoal_bench_${process.pid}_${randomBytes(4).toString('hex')}`
  const pgUrl = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`
  const children: ChildProcess[] = []
  const closers: (() => void)[] = []
  try {
    const common = ['--data', dir, '--port', '0', '--k', '2', '--m', '1', '--segment-size', '1KiB']
    const flags = [...common, '--heartbeat-interval', '1h', '--quota', '100GiB']
    if (config.store === 'pg') {
      execFileSync('createdb', ['-h', PG.host, '-p', PG.port, '-U', PG.user, db])
      execFileSync(process.execPath, [TRACKER_BIN, 'migrate', '--postgres', pgUrl], { stdio: 'ignore' })
      flags.push('--postgres', pgUrl)
    }
    const first = await startTracker(flags)
    children.push(first.child)
    const urls = [first.url]
    for (let i = 1; i < config.trackers; i++) {
      const t = await startTracker(flags)
      children.push(t.child)
      urls.push(t.url)
    }
    const { token, objectId, nodes } = await setup(urls[0] as string)

    // Grants: one request = get grants for one segment (3 pieces, 3 signatures), trackers in turn. Each worker
    // keeps one connection per tracker, as a client downloading would.
    const clients = Array.from({ length: concurrency }, () => urls.map((u) => new HttpLoadClient(u)))
    closers.push(() => {
      for (const c of clients.flat()) c.close()
    })
    const grantReq = async (i: number, worker: number) => {
      const s = i % SEGMENTS
      const client = clients[worker]?.[i % urls.length] as HttpLoadClient
      await ok(client.post(`/v1/objects/${objectId}/grants`, { from: s, to: s + 1 }, token))
    }
    await load(1, concurrency, grantReq) // warm-up
    const pids = (): number[] => [
      ...children.map((c) => c.pid as number),
      ...(config.store === 'pg' ? backendPids(db) : [])
    ]
    const trackerPids = children.map((c) => c.pid as number)
    let cpuPids = pids()
    let before = { tracker: totalCpuSeconds(trackerPids), all: totalCpuSeconds(cpuPids) }
    const grants = await load(seconds, concurrency, grantReq)
    const grantCpu = {
      tracker: (totalCpuSeconds(trackerPids) - before.tracker) / grants.count,
      db: (totalCpuSeconds(cpuPids) - before.all - (totalCpuSeconds(trackerPids) - before.tracker)) / grants.count
    }

    if (!settlements) return { config, grants, settle: undefined, settled: 0, grantCpu, settleCpu: undefined }
    // Settlements: receipts for fresh grants, signed by a client, batched and signed by their nodes.
    const client = await ReceiptSigner.create()
    const byNode = new Map<string, { grant: string; receipt: string }[]>()
    const wanted = 30_000
    for (let have = 0; have < wanted; have += SEGMENTS * 3) {
      const r = await ok(
        post<DownloadGrantsResponse>(
          `${urls[0]}/v1/objects/${objectId}/grants`,
          { from: 0, to: SEGMENTS, receiptKey: client.receiptKey },
          token
        )
      )
      for (const p of r.segments.flatMap((s) => s.pieces)) {
        const list = byNode.get(p.node.peerId) ?? []
        list.push({ grant: p.grant, receipt: await client.sign(p.grant, 520) })
        byNode.set(p.node.peerId, list)
      }
    }
    const tokens: string[] = []
    for (const n of nodes) {
      const list = byNode.get(n.peerId) ?? []
      for (let i = 0; i < list.length; i += SETTLE_BATCH) {
        tokens.push(
          await signToken(n.key, {
            v: 1,
            kind: 'settlement',
            node: n.peerId,
            at: Date.now(),
            receipts: list.slice(i, i + SETTLE_BATCH)
          })
        )
      }
    }
    let settled = 0
    cpuPids = pids()
    before = { tracker: totalCpuSeconds(trackerPids), all: totalCpuSeconds(cpuPids) }
    const settle = await load(
      seconds,
      Math.min(concurrency, 8),
      async (i, worker) => {
        const client = clients[worker]?.[i % urls.length] as HttpLoadClient
        const r = await ok(client.post<{ accepted: string[] }>('/v1/nodes/settlements', { token: tokens[i] }))
        settled += r.accepted.length
      },
      tokens.length
    )
    const settleTracker = totalCpuSeconds(trackerPids) - before.tracker
    const settleCpu = {
      tracker: settleTracker / Math.max(1, settled),
      db: (totalCpuSeconds(cpuPids) - before.all - settleTracker) / Math.max(1, settled)
    }
    return { config, grants, settle, settled, grantCpu, settleCpu }
  } finally {
    for (const close of closers) close()
    for (const child of children) {
      if (child.exitCode === null) {
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        await exited
      }
    }
    if (config.store === 'pg') {
      try {
        execFileSync('dropdb', ['-h', PG.host, '-p', PG.port, '-U', PG.user, '--if-exists', '--force', db])
      } catch {
        // reported by the run itself
      }
    }
    await rm(dir, { recursive: true, force: true })
  }
}

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    configs: { type: 'string', default: 'level:1,pg:1,pg:2' },
    // grants only: skips the settlement phase (and its setup), for quick side-by-side runs of the grant path.
    'grants-only': { type: 'boolean', default: false },
    append: { type: 'boolean', default: false }
  }
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const configs: Config[] = (values.configs as string).split(',').map((c) => {
  const [store, n] = c.split(':')
  if ((store !== 'level' && store !== 'pg') || !/^[12]$/.test(n ?? '')) throw new Error(`bad config ${c}`)
  if (store === 'level' && n !== '1') throw new Error('the level store serves one tracker process')
  return { store, trackers: Number(n) }
})

const rows: string[] = []
const results: Record<string, number | string | null>[] = []
for (const config of configs) {
  const r = await runConfig(config, seconds, concurrency, values['grants-only'] !== true)
  const g = r.grants
  const s = r.settle
  const ms = (seconds: number) => (seconds * 1000).toFixed(2)
  const pg = config.store === 'pg'
  const settleCols =
    s === undefined || r.settleCpu === undefined
      ? '- | - | - | - | -'
      : `${(r.settled / s.seconds).toFixed(0)} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${ms(r.settleCpu.tracker)} | ${pg ? ms(r.settleCpu.db) : '-'}`
  const row = `| ${pg ? 'PostgreSQL' : 'level'} | ${config.trackers} | ${(g.count / g.seconds).toFixed(0)} | ${g.p50.toFixed(1)} | ${g.p99.toFixed(1)} | ${ms(r.grantCpu.tracker)} | ${pg ? ms(r.grantCpu.db) : '-'} | ${settleCols} | ${loadAverage()} |`
  process.stdout.write(`${row}\n`)
  rows.push(row)
  results.push({
    store: config.store,
    trackers: config.trackers,
    grantsPerSecond: Math.round(g.count / g.seconds),
    grantP50Ms: g.p50,
    grantP99Ms: g.p99,
    grantTrackerCpuMs: r.grantCpu.tracker * 1000,
    grantDbCpuMs: pg ? r.grantCpu.db * 1000 : null,
    receiptsSettledPerSecond: s === undefined ? null : Math.round(r.settled / s.seconds),
    settleP50Ms: s?.p50 ?? null,
    settleP99Ms: s?.p99 ?? null,
    loadAverage: Number(loadAverage())
  })
}
// Machine-readable, one line: every row above.
process.stdout.write(`RESULTS ${JSON.stringify({ bench: 'tracker-load', seconds, concurrency, results })}\n`)

if (values.append === true) {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim()
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ')
  await appendFile(
    join(ROOT, 'bench/RESULTS.md'),
    [
      '',
      `### Tracker load (${when} UTC, commit ${commit})`,
      '',
      `\`node bench/src/tracker-load.ts --seconds ${seconds} --concurrency ${concurrency} --configs ${values.configs}\`:`,
      `grant requests (one segment, 3 signed grants each) from ${concurrency} concurrent clients over keep-alive HTTP;`,
      `settlements of ${SETTLE_BATCH} receipts each from up to 8. Load generator on the same 2-core machine.`,
      '',
      'CPU columns are CPU ms per grant request / per settled receipt, of the tracker processes and of the',
      "PostgreSQL backends serving the benchmark's database: unlike rates, they hardly depend on what else runs.",
      '',
      '| store | trackers | grant req/s | p50 ms | p99 ms | tracker CPU ms/req | PostgreSQL CPU ms/req | receipts settled/s | settle p50 ms | settle p99 ms | tracker CPU ms/receipt | PostgreSQL CPU ms/receipt | load avg |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      ''
    ].join('\n')
  )
}
