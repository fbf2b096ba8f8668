/**
 * Tracker scale benchmark (`pnpm bench -- --only tracker-scale [options]`): a synthetic network built through
 * the store — accounts with sessions, committed objects of several segments, nodes — then tracker processes
 * on it, driven over HTTP by concurrent clients with a mix of begin, place, commit, grants, list page and
 * heartbeat. Prints a table per store and, last, one JSON line:
 *
 *   {"objects":..,"nodes":..,"store":"pg","p99Ms":{"begin":..,"place":..,"commit":..,"grants":..,"list":..,
 *    "heartbeat":..},"rps":..,"backgroundQueriesPerSec":..,"rssMB":..}
 *
 * Options: --stores pg,level  --objects N  --nodes N  --accounts N  --segments N  --seconds N  --concurrency N
 * --trackers 1|2 (pg: also measure two trackers on one database)  --idle-seconds N  --mix LIST  --append.
 * PostgreSQL runs need a server at 127.0.0.1:5432 (user postgres, trust auth); each run creates a database of
 * its own and drops it.
 */
import { type ChildProcess, execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { appendFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  type BeginUploadResponse,
  bytesPerNode,
  type PlaceSegmentResponse,
  pieceCid,
  type SegmentManifest,
  signToken,
  toBase64Url
} from '@shoal/core'
import { type ImportedObject, LevelStore, PgStore, parseDuration, type Store } from '@shoal/tracker'
import { type CpuCap, capCpu } from './cpu-cap.ts'
import { HttpLoadClient } from './http-load-client.ts'
import { splitCpuSeconds, totalCpuSeconds } from './proc-cpu.ts'
import { backendPids, PG, percentile, signPutReceipts, startTracker } from './tracker-process.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Any well-formed Merkle root: nobody audits these pieces. */
const ROOT_HASH = 'A'.repeat(43)
const SEGMENT_SIZE = 1024
/** Objects per importObjects call while seeding. */
const IMPORT_BATCH = 2_000
/** healthz (HTTP alone) and readyz (HTTP and one store read) are floors to set the routes' costs against. */
const KINDS = ['begin', 'place', 'segmentCommit', 'commit', 'grants', 'list', 'heartbeat', 'healthz', 'readyz'] as const
type Kind = (typeof KINDS)[number]
/** What a client does next: one request, or an upload's four. */
const ACTIONS = ['heartbeat', 'grants', 'list', 'upload', 'healthz', 'readyz'] as const
type Action = (typeof ACTIONS)[number]
const DEFAULT_MIX = 'heartbeat=20,grants=35,list=15,upload=30'

export const TRACKER_SCALE_USAGE = `Usage: pnpm bench -- --only tracker-scale [options]
  --stores LIST        pg,level (default both)
  --objects N          committed objects (default 100000; the issue's target is 1000000)
  --nodes N            storage nodes heartbeating (default 1000)
  --accounts N         accounts, each with a session (default 10000)
  --segments N         segments per object, k=2 m=1 (default 3)
  --seconds N          load per phase (default 20)
  --rate N             actions per second from all clients together (an upload is one action of four
                       requests); default 0: each client starts its next action when the last one ends, as
                       fast as the tracker answers. A fixed rate makes CPU per request comparable between
                       runs on a busy machine (per-request costs fall as the rate rises: more work per wake-up)
  --warmup N           seconds of load before each phase is measured (default 2; the tracker's JIT is still
                       compiling for the first ~10 s, which a short warm-up bills to the phase)
  --concurrency N      concurrent HTTP clients (default 32)
  --trackers N         1, or 2: PostgreSQL is also driven through two trackers on one database (default 2)
  --idle-seconds N     idle window measuring background work (default 15)
  --repair-interval T  the trackers' repair pass period (default 30m, the tracker's default)
  --repair-scan-rate N segments per second the repair check reads (default 2500, the tracker's default)
  --audit-interval T   the trackers' audit rounds (default 0: none). The benchmark's nodes are keys, not
                       libp2p nodes: every audit's dial is refused at once, and a round where most nodes
                       fail counts against none, so this measures the rounds' walk, planning and dials
  --retain-build       after the idle window, one node asks for its retain filter: the tracker walks every
                       segment to build all nodes' filters (what it does once per cache period); the build's
                       time and CPU are reported
  --tracker-cpu SHARE  hold each tracker process to SHARE of one core (a CPU cgroup; root): a tracker on a
                       machine of its own of that size, so that one tracker, not this machine, is what runs
                       out, and two trackers measure how the tracker tier scales (default: no cap)
  --keep NAME          keep the seeded network (database shoal_scale_NAME, folder shoal-scale-NAME in the
                       temp dir) and reuse it when it is there: measure again without seeding again
  --mix LIST           the clients' choices by weight (default ${DEFAULT_MIX}); one name alone,
                       e.g. --mix grants, drives that route only: its CPU per request. Also healthz (the HTTP
                       stack alone) and readyz (HTTP and one store read): the floors under every route
  --append             add a dated section to bench/RESULTS.md
`

interface ScaleOptions {
  stores: ('pg' | 'level')[]
  objects: number
  nodes: number
  accounts: number
  segments: number
  seconds: number
  warmup: number
  rate: number
  concurrency: number
  trackers: number
  idleSeconds: number
  repairInterval: string
  repairScanRate: number
  keep: string | undefined
  auditInterval: string
  retainBuild: boolean
  /** Each tracker's CPU in cores (a cgroup quota), or undefined for none. */
  trackerCpu: number | undefined
  /** Cumulative weights in ACTIONS order, the last 1. */
  mix: number[]
  append: boolean
}

/** `heartbeat=20,grants=35` or `grants`: cumulative shares in ACTIONS order. */
export function parseMix(text: string): number[] {
  const weights = new Map<Action, number>()
  for (const part of text.split(',')) {
    const [name, weight = '1'] = part.split('=')
    if (!ACTIONS.includes(name as Action)) throw new Error(`--mix: unknown ${name}, one of ${ACTIONS.join(', ')}`)
    const w = Number(weight)
    if (!(w >= 0)) throw new Error(`--mix: ${name}'s weight must be a number >= 0`)
    weights.set(name as Action, w)
  }
  const total = [...weights.values()].reduce((a, b) => a + b, 0)
  if (total <= 0) throw new Error('--mix: some weight must be above 0')
  let sum = 0
  return ACTIONS.map((a) => {
    sum += weights.get(a) ?? 0
    return sum / total
  })
}

/** The action a roll in [0, 1) picks from cumulative weights. */
export function pickAction(mix: readonly number[], roll: number): Action {
  // An action of weight 0 has the same bound as the one before it, so it is never the first above the roll.
  const i = mix.findIndex((upTo) => roll < upTo)
  return ACTIONS[i < 0 ? ACTIONS.length - 1 : i] as Action
}

function readOptions(argv: string[]): ScaleOptions {
  const { values } = parseArgs({
    // `pnpm bench -- --only ...` passes the `--` on.
    args: argv.filter((a) => a !== '--'),
    options: {
      only: { type: 'string' },
      stores: { type: 'string', default: 'pg,level' },
      objects: { type: 'string', default: '100000' },
      nodes: { type: 'string', default: '1000' },
      accounts: { type: 'string', default: '10000' },
      segments: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '2' },
      rate: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '32' },
      trackers: { type: 'string', default: '2' },
      'idle-seconds': { type: 'string', default: '15' },
      'repair-interval': { type: 'string', default: '30m' },
      'repair-scan-rate': { type: 'string', default: '2500' },
      'tracker-cpu': { type: 'string' },
      'audit-interval': { type: 'string', default: '0' },
      'retain-build': { type: 'boolean', default: false },
      keep: { type: 'string' },
      mix: { type: 'string', default: DEFAULT_MIX },
      append: { type: 'boolean', default: false }
    }
  })
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`)
    return n
  }
  const stores = (values.stores as string).split(',').map((s) => {
    if (s !== 'pg' && s !== 'level') throw new Error(`--stores: unknown store ${s}`)
    return s
  })
  const options: ScaleOptions = {
    stores,
    objects: int('objects', values.objects, 1),
    nodes: int('nodes', values.nodes, 3),
    accounts: int('accounts', values.accounts, 1),
    segments: int('segments', values.segments, 1),
    seconds: int('seconds', values.seconds, 1),
    warmup: int('warmup', values.warmup, 0),
    rate: int('rate', values.rate, 0),
    concurrency: int('concurrency', values.concurrency, 1),
    trackers: int('trackers', values.trackers, 1),
    idleSeconds: int('idle-seconds', values['idle-seconds'], 1),
    repairInterval: values['repair-interval'] as string,
    repairScanRate: int('repair-scan-rate', values['repair-scan-rate'], 1),
    auditInterval: values['audit-interval'] as string,
    retainBuild: values['retain-build'] === true,
    trackerCpu: values['tracker-cpu'] === undefined ? undefined : Number(values['tracker-cpu']),
    keep: values.keep,
    mix: parseMix(values.mix as string),
    append: values.append === true
  }
  if (options.trackers > 2) throw new Error('--trackers is 1 or 2')
  if (options.trackerCpu !== undefined && !(options.trackerCpu > 0 && options.trackerCpu <= 64)) {
    throw new Error('--tracker-cpu is a share of one core in (0, 64], e.g. 0.3')
  }
  if (options.keep !== undefined && !/^[a-z0-9_]{1,20}$/.test(options.keep)) throw new Error('--keep: [a-z0-9_]{1,20}')
  return options
}

const pad = (i: number) => String(i).padStart(9, '0')
/** Deterministic ids (base64url characters): the load finds any seeded object without keeping a list. */
const objectId = (i: number) => `obj${pad(i)}`
const accountId = (a: number) => `acct${pad(a)}`
const tokenOf = (a: number) => `benchtoken${pad(a)}${'x'.repeat(16)}`
const hashToken = (token: string) => toBase64Url(createHash('sha256').update(token).digest())

interface BenchNode {
  key: PrivateKey
  peerId: string
  at: number
}

/** Builds the network through the store: accounts with sessions, nodes, committed objects. */
async function seed(store: Store, o: ScaleOptions, nodes: readonly BenchNode[], log: (s: string) => void) {
  const now = Date.now()
  const t0 = performance.now()
  for (let a = 0; a < o.accounts; a += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, o.accounts - a) }, async (_, j) => {
        const id = accountId(a + j)
        await store.accounts.createAccount({
          id,
          email: `${id}@bench.example`,
          authSalt: 'c2FsdA',
          authHash: 'aGFzaA',
          wrappedMasterKey: 'd3JhcHBlZA',
          quota: 2 ** 50,
          used: 0,
          reserved: 0,
          objects: 0,
          createdAt: now
        })
        await store.accounts.putSession({
          tokenHash: hashToken(tokenOf(a + j)),
          accountId: id,
          createdAt: now,
          expiresAt: now + 30 * 86_400_000
        })
      })
    )
  }
  for (const [i, n] of nodes.entries()) {
    await store.nodes.recordHeartbeat(
      {
        peerId: n.peerId,
        addrs: ['/ip4/127.0.0.1/tcp/4001'],
        capacity: 2 ** 40,
        used: 0,
        free: 2 ** 40,
        version: 'bench',
        lastSeen: now,
        lastAt: n.at,
        subnet: `node:${i}`
      },
      []
    )
  }
  log(`seeded ${o.accounts} accounts and ${o.nodes} nodes in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  // Objects in bulk: importObjects writes what an upload's begin and commit would (object, name, segments,
  // storage span, the owner's totals), IMPORT_BATCH objects per transaction or batch, two batches in flight
  // (PostgreSQL works on one while the next is built here).
  const size = o.segments * SEGMENT_SIZE
  let next = 0
  let lastLog = performance.now()
  const worker = async () => {
    for (let from = next; from < o.objects; from = next) {
      next = Math.min(o.objects, from + IMPORT_BATCH)
      await store.uploads.importObjects(
        Array.from({ length: next - from }, (_, j) => seededObject(from + j, o, nodes, size, now))
      )
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now()
        log(`  ${next} objects (${(next / ((performance.now() - t0) / 1000)).toFixed(0)}/s)`)
      }
    }
  }
  await Promise.all(Array.from({ length: 2 }, worker))
  const seconds = (performance.now() - t0) / 1000
  log(`seeded ${o.objects} objects of ${o.segments} segments in ${seconds.toFixed(0)} s`)
  return seconds
}

/** Seeded object `i`: owner i mod accounts, pieces dealt round the nodes. Exported for the seeding test. */
export function seededObject(
  i: number,
  o: Pick<ScaleOptions, 'accounts' | 'segments'>,
  nodes: readonly { peerId: string }[],
  size: number,
  now: number
): ImportedObject {
  const object = {
    id: objectId(i),
    owner: accountId(i % o.accounts),
    nameHash: `name${pad(i)}`,
    meta: 'bWV0YQ',
    wrappedKey: 'a2V5',
    nonce: 'AAAAAAAAAAA',
    size,
    k: 2,
    m: 1,
    segmentSize: SEGMENT_SIZE,
    segmentCount: o.segments,
    createdAt: now
  }
  const segments: SegmentManifest[] = Array.from({ length: o.segments }, (_, s) => ({
    index: s,
    pieces: [0, 1, 2].map((p) => ({
      index: p,
      // Unique, well-formed-enough piece ids: the tracker only hands them out in grants.
      cid: `bafkrei${pad(i)}${s}${p}`,
      node: (nodes[(i * 3 + s + p) % nodes.length] as { peerId: string }).peerId,
      root: ROOT_HASH
    }))
  }))
  return { object, segments, nodeBytes: bytesPerNode(object, segments) }
}

/**
 * A memory figure of a process from /proc/PID/status, MB; 0 when gone. VmHWM: peak resident memory. RssAnon:
 * resident memory now, less file pages (LevelDB maps its table files: those pages count in the RSS but are the
 * page cache's, shared and reclaimable).
 */
function memoryMB(pid: number, field: 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Math.round(Number(m[1]) / 1024)
  } catch {
    return 0
  }
}

/** Transactions committed in a database so far (pg_stat_database: backends report them within about a second). */
/**
 * One node's retain request (POST /v1/nodes/retain, signed by its key as a node signs it): the tracker builds
 * every node's filter in one walk of every segment. Its wall time and the CPU it took, tracker and database.
 */
async function retainBuild(url: string, node: BenchNode, trackers: number[], backends: number[]) {
  const cpu0 = { tracker: totalCpuSeconds(trackers), pg: totalCpuSeconds(backends) }
  const t0 = performance.now()
  const token = await signToken(node.key, { v: 1, kind: 'retain', node: node.peerId, at: Date.now() })
  const response = await fetch(new URL('/v1/nodes/retain', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token })
  })
  if (!response.ok) throw new Error(`retain request: HTTP ${response.status} ${await response.text()}`)
  const { pieces } = (await response.json()) as { pieces: number }
  return {
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
    trackerCpuSeconds: +(totalCpuSeconds(trackers) - cpu0.tracker).toFixed(1),
    pgCpuSeconds: +(totalCpuSeconds(backends) - cpu0.pg).toFixed(1),
    piecesOfThisNode: pieces
  }
}

function transactionsCommitted(db: string): number {
  return Number(psql(`SELECT xact_commit FROM pg_stat_database WHERE datname = '${db}'`))
}

function psql(sql: string): string {
  return execFileSync('psql', ['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', 'postgres', '-Atc', sql])
    .toString()
    .trim()
}

interface PhaseResult {
  /**
   * CPU ms per request of the load generator (this process), the trackers (and of that, in the kernel) and the
   * database's backends.
   */
  cpuMs: { generator: number; trackers: number; trackersKernel: number; postgres: number | null }
  /**
   * Committed PostgreSQL transactions per request (each statement outside a transaction is one): the round trips
   * a request costs, the background walk's included.
   */
  transactionsPerRequest: number | null
  rps: number
  errors: number
  p50: Record<Kind, number>
  p99: Record<Kind, number>
  counts: Record<Kind, number>
}

/** The request mix from `concurrency` clients spread over the trackers, for `seconds`. */
async function drive(
  urls: readonly string[],
  o: ScaleOptions,
  nodes: readonly BenchNode[],
  processes: { trackers: readonly number[]; db: string | undefined }
): Promise<PhaseResult> {
  const latencies = Object.fromEntries(KINDS.map((k) => [k, [] as number[]])) as Record<Kind, number[]>
  const byPeer = new Map(nodes.map((n) => [n.peerId, n]))
  let errors = 0
  let total = 0
  const timed = async <T>(kind: Kind, run: () => Promise<{ status: number; body: T }>): Promise<T | undefined> => {
    const t0 = performance.now()
    const r = await run()
    latencies[kind].push(performance.now() - t0)
    total++
    if (r.status >= 300) {
      errors++
      if (errors <= 5) process.stderr.write(`${kind}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}\n`)
      return undefined
    }
    return r.body
  }
  const heartbeat = async (client: HttpLoadClient) => {
    const n = nodes[Math.floor(Math.random() * nodes.length)] as BenchNode
    n.at = Math.max(Date.now(), n.at + 1)
    const token = await signToken(n.key, {
      v: 1,
      kind: 'heartbeat',
      node: n.peerId,
      addrs: ['/ip4/127.0.0.1/tcp/4001'],
      capacity: 2 ** 40,
      used: 0,
      free: 2 ** 40,
      at: n.at,
      version: 'bench',
      deleted: []
    })
    await timed('heartbeat', () => client.post('/v1/nodes/heartbeat', { token }))
  }
  const upload = async (client: HttpLoadClient, token: string) => {
    const begun = await timed('begin', () =>
      client.post<BeginUploadResponse>(
        '/v1/uploads',
        {
          nameHash: toBase64Url(randomBytes(24)),
          size: SEGMENT_SIZE,
          meta: 'bWV0YQ',
          wrappedKey: 'a2V5',
          nonce: 'AAAAAAAAAAA'
        },
        token
      )
    )
    if (begun === undefined) return
    const pieceSize = Math.ceil((SEGMENT_SIZE + 16) / 2)
    const pieces = await Promise.all(
      [0, 1, 2].map(async (index) => ({ index, cid: (await pieceCid(randomBytes(16))).toString(), size: pieceSize }))
    )
    const placed = await timed('place', () =>
      client.post<PlaceSegmentResponse>(`/v1/uploads/${begun.uploadId}/segments/0/place`, { pieces }, token)
    )
    if (placed === undefined) return
    const receipts = await signPutReceipts(placed, (peer) => (byPeer.get(peer) as BenchNode).key, ROOT_HASH)
    const committed = await timed('segmentCommit', () =>
      client.post(`/v1/uploads/${begun.uploadId}/segments/0/commit`, { pieces: receipts }, token)
    )
    if (committed === undefined) return
    await timed('commit', () => client.post(`/v1/uploads/${begun.uploadId}/commit`, {}, token))
  }
  const backends = processes.db === undefined ? [] : backendPids(processes.db)
  const commits = () => (processes.db === undefined ? 0 : transactionsCommitted(processes.db))
  const commits0 = commits()
  const cpu0 = { generator: process.cpuUsage(), trackers: splitCpuSeconds(processes.trackers) }
  const pg0 = totalCpuSeconds(backends)
  const started = performance.now()
  const deadline = started + o.seconds * 1000
  await Promise.all(
    Array.from({ length: o.concurrency }, async (_, worker) => {
      const client = new HttpLoadClient(urls[worker % urls.length] as string)
      // At a fixed rate each client has its own slots, spread over the interval; a late client does not catch up.
      const every = o.rate > 0 ? (1000 * o.concurrency) / o.rate : 0
      let slot = started + (every * worker) / o.concurrency
      try {
        while (performance.now() < deadline) {
          if (every > 0) {
            const wait = slot - performance.now()
            if (wait > 0) await new Promise((r) => setTimeout(r, wait))
            slot = Math.max(slot + every, performance.now())
            if (performance.now() >= deadline) break
          }
          const a = Math.floor(Math.random() * o.accounts)
          const token = tokenOf(a)
          const action = pickAction(o.mix, Math.random())
          if (action === 'heartbeat') await heartbeat(client)
          else if (action === 'grants') {
            // An object of this account: objects are dealt to accounts round-robin.
            const perAccount = Math.floor((o.objects - 1 - a) / o.accounts) + 1
            const i = a + o.accounts * Math.floor(Math.random() * Math.max(1, perAccount))
            const s = Math.floor(Math.random() * o.segments)
            await timed('grants', () => client.post(`/v1/objects/${objectId(i)}/grants`, { from: s, to: s + 1 }, token))
          } else if (action === 'list') await timed('list', () => client.get('/v1/objects?limit=100', token))
          else if (action === 'upload') await upload(client, token)
          else await timed(action, () => client.get(`/${action}`))
        }
      } finally {
        client.close()
      }
    })
  )
  const seconds = (performance.now() - started) / 1000
  const transactions = commits() - commits0
  const generator = process.cpuUsage(cpu0.generator)
  const perRequest = (cpuSeconds: number) => Math.round((cpuSeconds * 1000 * 100) / Math.max(1, total)) / 100
  const trackers = splitCpuSeconds(processes.trackers)
  const cpuMs = {
    generator: perRequest((generator.user + generator.system) / 1e6),
    trackers: perRequest(trackers.user + trackers.system - cpu0.trackers.user - cpu0.trackers.system),
    trackersKernel: perRequest(trackers.system - cpu0.trackers.system),
    postgres: processes.db === undefined ? null : perRequest(totalCpuSeconds(backends) - pg0)
  }
  const sorted = Object.fromEntries(KINDS.map((k) => [k, [...latencies[k]].sort((x, y) => x - y)])) as Record<
    Kind,
    number[]
  >
  const round1 = (n: number) => Math.round(n * 10) / 10
  return {
    cpuMs,
    transactionsPerRequest:
      processes.db === undefined ? null : Math.round((transactions * 100) / Math.max(1, total)) / 100,
    rps: Math.round(total / seconds),
    errors,
    p50: Object.fromEntries(KINDS.map((k) => [k, round1(percentile(sorted[k], 50))])) as Record<Kind, number>,
    p99: Object.fromEntries(KINDS.map((k) => [k, round1(percentile(sorted[k], 99))])) as Record<Kind, number>,
    counts: Object.fromEntries(KINDS.map((k) => [k, sorted[k].length])) as Record<Kind, number>
  }
}

async function runStore(kind: 'pg' | 'level', o: ScaleOptions, log: (s: string) => void) {
  const keep = o.keep !== undefined
  const dir = keep ? join(tmpdir(), `shoal-scale-${o.keep}`) : await mkdtemp(join(tmpdir(), 'shoal-tracker-scale-'))
  const db = keep ? `shoal_scale_${o.keep}` : `shoal_scale_${process.pid}_${randomBytes(4).toString('hex')}`
  const pgUrl = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`
  const children: ChildProcess[] = []
  const caps: CpuCap[] = []
  /** A tracker process, held to --tracker-cpu of a core when that is set. */
  const tracker = async (flags: string[]) => {
    const started = await startTracker(flags)
    children.push(started.child)
    if (o.trackerCpu !== undefined) {
      caps.push(await capCpu(started.child.pid as number, o.trackerCpu, `tracker${children.length}`))
    }
    return started
  }
  try {
    // Keys from the node's number: a kept network's nodes are the same nodes in the next run.
    const nodes: BenchNode[] = await Promise.all(
      Array.from({ length: o.nodes }, async (_, i) => {
        const seed = createHash('sha256').update(`tracker-scale node ${i}`).digest()
        const key = await generateKeyPairFromSeed('Ed25519', seed)
        return { key, peerId: peerIdFromPrivateKey(key).toString(), at: Date.now() }
      })
    )
    const exists =
      keep &&
      (kind === 'pg'
        ? psql(`SELECT 1 FROM pg_database WHERE datname = '${db}'`) === '1'
        : existsSync(join(dir, 'store')))
    if (kind === 'pg' && !exists) execFileSync('createdb', ['-h', PG.host, '-p', PG.port, '-U', PG.user, db])
    if (kind === 'level') await mkdir(dir, { recursive: true })
    const store: Store =
      kind === 'pg'
        ? new PgStore({ url: pgUrl, migrate: true, maxConnections: 16 })
        : new LevelStore({ location: join(dir, 'store') })
    await store.open()
    let seedSeconds = 0
    if (exists) log(`reusing the network kept as ${o.keep} (as seeded: the options must match)`)
    else seedSeconds = await seed(store, o, nodes, log)
    // A pass of the repair check begun now (a tracker begins its first pass only a period after it starts): the
    // runs measure the pass's cost and rate, read back from this cursor at the end.
    const cursor = await store.coordination.getCursor('repair-check')
    const version = (cursor?.version ?? 0) + 1
    await store.coordination.putCursor('repair-check', {
      version,
      pass: (cursor?.pass ?? 0) + 1,
      startedAt: Date.now(),
      segments: 0
    })
    await store.close()
    const flags = [
      ...['--data', dir, '--port', '0', '--k', '2', '--m', '1', '--segment-size', '1KiB'],
      ...['--heartbeat-interval', '1h', '--audit-interval', o.auditInterval, '--repair-interval', o.repairInterval],
      ...['--repair-scan-rate', String(o.repairScanRate)]
    ]
    if (kind === 'pg') flags.push('--postgres', pgUrl)
    const urls = [(await tracker(flags)).url]
    const pids = () => children.map((c) => c.pid as number)

    const processes = () => ({ trackers: pids(), db: kind === 'pg' ? db : undefined })
    log('load, one tracker')
    if (o.warmup > 0) await drive(urls, { ...o, seconds: o.warmup }, nodes, processes())
    const one = await drive(urls, o, nodes, processes())
    let two: PhaseResult | undefined
    if (kind === 'pg' && o.trackers === 2) {
      urls.push((await tracker(flags)).url)
      log('load, two trackers')
      if (o.warmup > 0) await drive(urls, { ...o, seconds: o.warmup }, nodes, processes())
      two = await drive(urls, o, nodes, processes())
    }

    // Background work alone: no requests, the repair check's pass over every segment at its rate.
    log(`idle ${o.idleSeconds} s: background work only`)
    const commits = () => (kind === 'pg' ? transactionsCommitted(db) : 0)
    const backends = kind === 'pg' ? backendPids(db) : []
    const cpu0 = totalCpuSeconds(pids())
    const pgCpu0 = totalCpuSeconds(backends)
    const x0 = commits()
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, o.idleSeconds * 1000))
    const idle = (performance.now() - t0) / 1000
    const backgroundCpu = (totalCpuSeconds(pids()) - cpu0) / idle / children.length
    // The database's side of the same work (its backends of this database), as a share of one core.
    const backgroundPgCpu = kind === 'pg' ? (totalCpuSeconds(backends) - pgCpu0) / idle : null
    const backgroundQueriesPerSec = kind === 'pg' ? Math.round((commits() - x0) / idle) : null
    const rssMB = Math.max(...pids().map((pid) => memoryMB(pid, 'VmHWM')))
    const anonMB = Math.max(...pids().map((pid) => memoryMB(pid, 'RssAnon')))
    const fileMB = Math.max(...pids().map((pid) => memoryMB(pid, 'RssFile')))
    const retain = o.retainBuild ? await retainBuild(urls[0] as string, nodes[0] as BenchNode, pids(), backends) : null
    await stopAll(children)
    const pass = await repairPass(
      kind === 'pg' ? new PgStore({ url: pgUrl }) : new LevelStore({ location: join(dir, 'store') })
    )
    return {
      kind,
      one,
      two,
      seedSeconds,
      backgroundCpu,
      backgroundPgCpu,
      backgroundQueriesPerSec,
      rssMB,
      anonMB,
      fileMB,
      pass,
      retain
    }
  } finally {
    await stopAll(children)
    for (const cap of caps) await cap.release()
    if (kind === 'pg' && !keep) {
      try {
        execFileSync('dropdb', ['-h', PG.host, '-p', PG.port, '-U', PG.user, '--if-exists', '--force', db])
      } catch {
        // reported by the run itself
      }
    }
    if (!keep) await rm(dir, { recursive: true, force: true })
  }
}

async function stopAll(children: readonly ChildProcess[]): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
  }
}

/**
 * Where the repair check's pass over every segment stands (its cursor in the store, read after the trackers
 * stopped): segments claimed in the pass, over how long, and whether it finished; the pass's rate and, from
 * it, how long a whole pass over `total` segments takes.
 */
async function repairPass(store: Store): Promise<{ segments: number; seconds: number; finished: boolean }> {
  await store.open()
  try {
    const cursor = await store.coordination.getCursor('repair-check')
    if (cursor === undefined) return { segments: 0, seconds: 0, finished: false }
    const end = cursor.finishedAt ?? Date.now()
    return {
      segments: cursor.segments,
      seconds: (end - cursor.startedAt) / 1000,
      finished: cursor.finishedAt !== undefined
    }
  } finally {
    await store.close()
  }
}

/** Runs the benchmark; returns the exit code. */
export async function runTrackerScale(argv: string[]): Promise<number> {
  let o: ScaleOptions
  try {
    o = readOptions(argv)
  } catch (err) {
    process.stderr.write(`tracker-scale: ${(err as Error).message}\n\n${TRACKER_SCALE_USAGE}`)
    return 2
  }
  const log = (s: string) => process.stderr.write(`[tracker-scale] ${s}\n`)
  const header =
    '| store | trackers | objects | nodes | req/s | errors | p99 ms begin | place | segment commit | commit | grants | list page | heartbeat | CPU ms/req generator | trackers (kernel) | trackers less background | PostgreSQL | PostgreSQL transactions per request | background CPU (share of a core per tracker) | PostgreSQL backends | background queries/s | repair pass: segments, s (rate/s) | full pass s / period s | peak RSS MB | anonymous, file RSS MB at the end | load avg |'
  const rows: string[] = [header, `|${'---|'.repeat(26)}`]
  // The trackers' CPU per request less what they spend with no requests at all (the repair walk, ticks), as
  // measured in the idle window: at a few hundred requests per second a walk at 2,500 segments/s is a large part.
  const lessBackground = (phase: PhaseResult, trackers: number, background: number) =>
    Math.round((phase.cpuMs.trackers - (background * trackers * 1000) / Math.max(1, phase.rps)) * 100) / 100
  const periodSeconds = parseDuration(o.repairInterval) / 1000
  const totalSegments = o.objects * o.segments
  const lines: string[] = []
  const rate = (p: { segments: number; seconds: number }) => (p.seconds > 0 ? p.segments / p.seconds : 0)
  const passText = (p: { segments: number; seconds: number; finished: boolean }) =>
    `${p.segments}, ${p.seconds.toFixed(0)}${p.finished ? ' (finished)' : ''} (${rate(p).toFixed(0)})`
  // A finished pass's own time; otherwise the whole network at the pass's rate so far.
  const fullPass = (p: { segments: number; seconds: number; finished: boolean }) =>
    p.finished ? p.seconds.toFixed(0) : rate(p) > 0 ? (totalSegments / rate(p)).toFixed(0) : '-'
  for (const kind of o.stores) {
    const r = await runStore(kind, o, log)
    for (const [trackers, phase] of [
      [1, r.one],
      [2, r.two]
    ] as const) {
      if (phase === undefined) continue
      const p = phase.p99
      rows.push(
        `| ${kind} | ${trackers}${o.trackerCpu === undefined ? '' : ` x ${o.trackerCpu} core`} | ${o.objects} | ${o.nodes} | ${phase.rps} | ${phase.errors} | ${p.begin} | ${p.place} | ${p.segmentCommit} | ${p.commit} | ${p.grants} | ${p.list} | ${p.heartbeat} | ${phase.cpuMs.generator} | ${phase.cpuMs.trackers} (${phase.cpuMs.trackersKernel}) | ${lessBackground(phase, trackers, r.backgroundCpu)} | ${phase.cpuMs.postgres ?? '-'} | ${phase.transactionsPerRequest ?? '-'} | ${r.backgroundCpu.toFixed(3)} | ${r.backgroundPgCpu?.toFixed(3) ?? '-'} | ${r.backgroundQueriesPerSec ?? '-'} | ${passText(r.pass)} | ${fullPass(r.pass)} / ${periodSeconds} | ${r.rssMB} | ${r.anonMB}, ${r.fileMB} | ${loadavg()[0]?.toFixed(1)} |`
      )
    }
    const { segmentCommit: _, healthz: _h, readyz: _r, ...p99Ms } = r.one.p99
    lines.push(
      JSON.stringify({
        objects: o.objects,
        nodes: o.nodes,
        store: kind,
        p99Ms,
        rps: r.one.rps,
        ...(o.trackerCpu === undefined ? {} : { trackerCpuCores: o.trackerCpu }),
        cpuMsPerRequest: { ...r.one.cpuMs, trackersLessBackground: lessBackground(r.one, 1, r.backgroundCpu) },
        transactionsPerRequest: r.one.transactionsPerRequest,
        ...(r.two === undefined
          ? {}
          : { rpsTwoTrackers: r.two.rps, twoTrackerRatio: +(r.two.rps / r.one.rps).toFixed(2) }),
        backgroundQueriesPerSec: r.backgroundQueriesPerSec,
        backgroundCpuShare: +r.backgroundCpu.toFixed(3),
        backgroundPgCpuShare: r.backgroundPgCpu === null ? null : +r.backgroundPgCpu.toFixed(3),
        rssMB: r.rssMB,
        anonRssMB: r.anonMB,
        fileRssMB: r.fileMB,
        repairPass: {
          ...r.pass,
          seconds: Math.round(r.pass.seconds),
          fullPassSeconds: Number(fullPass(r.pass)),
          periodSeconds
        },
        ...(r.retain === null ? {} : { retainBuild: r.retain }),
        seedSeconds: Math.round(r.seedSeconds)
      })
    )
  }
  process.stdout.write(`${rows.join('\n')}\n`)
  for (const line of lines) process.stdout.write(`${line}\n`)
  if (o.append) {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim()
    const when = new Date().toISOString().slice(0, 16).replace('T', ' ')
    await appendFile(
      join(ROOT, 'bench/RESULTS.md'),
      [
        '',
        `### Tracker scale (${when} UTC, commit ${commit})`,
        '',
        `\`pnpm bench -- --only tracker-scale ${argv.filter((a) => a !== '--append' && a !== '--only' && a !== 'tracker-scale').join(' ')}\`:`,
        `${o.accounts} accounts, ${o.objects} objects of ${o.segments} segments (k=2, m=1), ${o.nodes} nodes, seeded through the`,
        `store; then ${o.concurrency} clients for ${o.seconds} s, choosing by weight among heartbeats, download grants,`,
        'list pages (100 objects) and uploads (begin, place, segment commit, commit). Same 2-core machine as the load',
        'generator.',
        '',
        ...rows,
        '',
        ...lines.map((l) => `    ${l}`),
        ''
      ].join('\n')
    )
  }
  return 0
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await runTrackerScale(process.argv.slice(2))
