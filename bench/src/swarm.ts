import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { type SavedSession, ShoalClient } from '@shoal/client'
import { Testnet, type TestnetInit } from '@shoal/testnet'
import { startClient } from './client-runner.ts'
import type { TestFile, TestFiles } from './files.ts'
import { type Sample, shoalTransfer } from './hosts.ts'
import { type BenchOptions, layoutFor, runsFor, transferTimeoutMs } from './options.ts'
import { CpuMeter, waitForQuiet } from './proc-cpu.ts'
import type { ClientJob, ClientResult } from './protocol.ts'
import { MB, mbps, median, rateLabel, round, sizeLabel } from './stats.ts'

export interface TransferSample {
  ok: boolean
  /** Plaintext MB/s. */
  mbps: number
  ms: number
  bytes: number
  /** Client CPU seconds (user + system, all threads) per GB (10^9 bytes) of plaintext. */
  cpuSPerGB: number
  peakRssMB: number
  startRssMB: number
  ttfbMs?: number
  /** Part of the TTFB spent before get() returned (tracker lookup, keys). */
  openMs?: number
  wireBytes?: number
  match?: boolean
  error?: string
  /** Lines the SDK logged (failovers, retries): the first few. */
  log?: string[]
  /** Download engine events by type (piece, hedge, failure, relocated). */
  events?: Record<string, number>
  /** Pieces received per node index ('node 0': 12). */
  piecesByNode?: Record<string, number>
  /** CPU seconds the testnet (tracker and every node) used during the transfer; Linux only. */
  netCpuS?: number
  netCpuSPerGB?: number
  /** The same per process: 'tracker', 'node 0', ... */
  netCpuByProcess?: Record<string, number>
  /** How long the harness waited for the testnet to go quiet before the transfer, and what load it saw. */
  settle?: { waitedMs: number; cores: number; settled: boolean }
  /** The machine's 1-minute load average when the transfer started (others share this machine). */
  load1?: number
}

export interface KillInfo {
  victims: number[]
  /** Plaintext bytes the client had delivered when the kills had completed. */
  bytesAtKill: number
  /** The kills completed before the download finished. */
  landed: boolean
}

export interface RunSample {
  upload?: TransferSample
  download?: TransferSample
  kill?: KillInfo
}

export interface Medians {
  uploadMBps?: number
  downloadMBps?: number
  uploadCpuSPerGB?: number
  downloadCpuSPerGB?: number
  uploadPeakRssMB?: number
  downloadPeakRssMB?: number
  ttfbMs?: number
  uploadNetCpuSPerGB?: number
  downloadNetCpuSPerGB?: number
  /** Median 1-minute load average of the machine when the transfers started. */
  load1?: number
  /** Transfers that started while the testnet was still busy (not quiet within the settle bound). */
  unsettled?: number
}

export type RowKind = 'swarm' | 'slow-node' | 'fault-healthy' | 'kill' | 'big'

export interface SwarmRow {
  id: string
  kind: RowKind
  title: string
  nodes: number
  k?: number
  m?: number
  /** Egress cap of the nodes in MB/s (null: uncapped). With a slow node, the cap of the others. */
  capMBps: number | null
  slowNode?: { index: number; capMBps: number }
  size: number
  applicable: boolean
  note?: string
  runs: RunSample[]
  median: Medians
  /** Row this one is compared with (slow node, kill), and download ratio to it. */
  compareTo?: string
  downloadRatio?: number
  /** `--big`: the same file downloaded by `shoal get NAME -` (the command users run) after the SDK's runs. */
  cliGet?: Sample
  errors: string[]
}

interface NetSpec {
  nodes: number
  k: number
  m: number
  /** Bytes/s for every node, or per node. */
  egress: ((index: number) => number | null) | number | null
}

export interface SwarmContext {
  options: BenchOptions
  files: TestFiles
  log: (line: string) => void
}

function rateArg(bytesPerSecond: number): string {
  return String(Math.max(1, Math.round(bytesPerSecond)))
}

let netCount = 0

/**
 * Testnet.start, with `--node-profile DIR`: the tracker and nodes inherit NODE_OPTIONS with --cpu-prof while
 * they start (the testnet spawns them with this process's environment), and write a profile when they stop.
 */
async function startTestnet(init: TestnetInit, profileDir: string | undefined): Promise<Testnet> {
  if (profileDir === undefined) return Testnet.start(init)
  const saved = process.env.NODE_OPTIONS
  const dir = join(profileDir, `net${++netCount}-${init.nodes}n`)
  process.env.NODE_OPTIONS = `${saved ?? ''} --cpu-prof --cpu-prof-dir=${dir}`.trim()
  try {
    return await Testnet.start(init)
  } finally {
    if (saved === undefined) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = saved
  }
}

/** A testnet for the bench (quota large enough for every file) and a signed-up account's session. */
async function withBenchNet<T>(
  ctx: SwarmContext,
  spec: NetSpec,
  fn: (net: Testnet, session: SavedSession) => Promise<T>
): Promise<T> {
  const { egress } = spec
  const init: TestnetInit = {
    nodes: spec.nodes,
    k: spec.k,
    m: spec.m,
    trackerArgs: ['--quota', '1TB'],
    nodeCapacity: '64GiB',
    ...(ctx.options.segmentSize === undefined ? {} : { segmentSize: ctx.options.segmentSize }),
    ...(typeof egress === 'number' ? { egressLimit: rateArg(egress) } : {}),
    ...(typeof egress === 'function'
      ? {
          nodeArgs: (i: number) => {
            const rate = egress(i)
            return rate === null ? [] : ['--egress-limit', rateArg(rate)]
          }
        }
      : {})
  }
  const net = await startTestnet(init, ctx.options.nodeProfile)
  try {
    const client = await ShoalClient.signup({
      tracker: net.tracker.url,
      email: `bench-${randomBytes(4).toString('hex')}@example.com`,
      password: randomBytes(16).toString('hex')
    })
    const session = client.session()
    await client.stop()
    return await fn(net, session)
  } finally {
    await net.stop()
  }
}

function toSample(r: ClientResult): TransferSample {
  const cpuSeconds = (r.cpuUserMs + r.cpuSystemMs) / 1000
  return {
    ok: r.ok,
    mbps: r.ok ? round(mbps(r.bytes, r.ms)) : Number.NaN,
    ms: round(r.ms),
    bytes: r.bytes,
    cpuSPerGB: r.bytes > 0 ? round(cpuSeconds / (r.bytes / 1e9), 2) : Number.NaN,
    peakRssMB: round(r.peakRssMB),
    startRssMB: round(r.startRssMB),
    ...(r.ttfbMs === undefined ? {} : { ttfbMs: round(r.ttfbMs) }),
    ...(r.openMs === undefined ? {} : { openMs: round(r.openMs) }),
    ...(r.wireBytes === undefined ? {} : { wireBytes: r.wireBytes }),
    ...(r.match === undefined ? {} : { match: r.match }),
    ...(r.error === undefined
      ? r.match === false
        ? { error: 'downloaded bytes differ from the source (sha256 mismatch)' }
        : {}
      : { error: `${r.error.code}: ${r.error.message}` }),
    ...(r.events === undefined ? {} : { events: r.events }),
    ...(r.piecesByNode === undefined ? {} : { piecesByNode: r.piecesByNode }),
    ...(r.log.length === 0 ? {} : { log: r.log.slice(0, 20) })
  }
}

/** Names nodes by their testnet index rather than their peer id. */
function byIndex(net: Testnet, sample: TransferSample): TransferSample {
  if (sample.piecesByNode === undefined) return sample
  const named: Record<string, number> = {}
  for (const [peerId, count] of Object.entries(sample.piecesByNode)) {
    const index = net.nodes.findIndex((n) => n.peerId === peerId)
    named[index < 0 ? peerId : `node ${index}`] = count
  }
  return { ...sample, piecesByNode: named }
}

function job(
  ctx: SwarmContext,
  mode: ClientJob['mode'],
  session: SavedSession,
  name: string,
  file: TestFile,
  progressEvery = 0
): ClientJob {
  return {
    mode,
    session,
    name,
    ...(mode === 'upload' ? { file: file.path } : {}),
    size: file.size,
    sha256: file.sha256,
    clientInit: ctx.options.clientInit,
    options: mode === 'upload' ? ctx.options.uploadOptions : ctx.options.downloadOptions,
    progressEvery,
    timeoutMs: transferTimeoutMs(ctx.options, file.size),
    ...(ctx.options.clientProfile === undefined ? {} : { profileDir: join(ctx.options.clientProfile, name, mode) })
  }
}

function cpuOf(
  used: { total: number; byPid: Map<number, number> },
  names: Map<number, string>
): Pick<TransferSample, 'netCpuS' | 'netCpuByProcess'> {
  const byProcess: Record<string, number> = {}
  for (const [pid, s] of used.byPid) byProcess[names.get(pid) ?? `pid ${pid}`] = round(s, 2)
  return { netCpuS: round(used.total, 2), netCpuByProcess: byProcess }
}

function netPids(net: Testnet): number[] {
  return [net.tracker.pid, ...net.nodes.filter((n) => n.running).map((n) => n.pid)]
}

/** Waits for the testnet to go quiet, then notes its CPU so the transfer's share of node work can be billed. */
async function settle(
  ctx: SwarmContext,
  net: Testnet
): Promise<() => Pick<TransferSample, 'netCpuS' | 'netCpuByProcess' | 'settle' | 'load1'>> {
  const quiet = await waitForQuiet(netPids(net))
  if (!quiet.settled && Number.isFinite(quiet.cores)) {
    ctx.log(`  (the testnet still used ${round(quiet.cores, 2)} cores after ${round(quiet.waitedMs)} ms; going on)`)
  }
  const meter = new CpuMeter(() => netPids(net))
  // Pids are named when the meter starts: a killed and restarted node gets a new pid.
  const names = new Map<number, string>([
    [net.tracker.pid, 'tracker'],
    ...net.nodes.map((n): [number, string] => [n.pid, `node ${n.index}`])
  ])
  const load1 = round(loadavg()[0] ?? Number.NaN, 2)
  return () => ({
    load1,
    ...cpuOf(meter.stop(), names),
    settle: { waitedMs: round(quiet.waitedMs), cores: round(quiet.cores, 3), settled: quiet.settled }
  })
}

async function transfer(ctx: SwarmContext, net: Testnet, j: ClientJob): Promise<TransferSample> {
  const done = await settle(ctx, net)
  let sample: TransferSample
  try {
    sample = toSample(await startClient(j).result)
  } catch (err) {
    sample = failed(err)
  }
  return withNetCpu(byIndex(net, sample), done())
}

function withNetCpu(
  sample: TransferSample,
  net: Pick<TransferSample, 'netCpuS' | 'netCpuByProcess' | 'settle' | 'load1'>
): TransferSample {
  const out = { ...sample, ...net }
  if (net.netCpuS !== undefined && sample.ok && sample.bytes > 0)
    out.netCpuSPerGB = round(net.netCpuS / (sample.bytes / 1e9), 2)
  return out
}

function failed(err: unknown): TransferSample {
  return {
    ok: false,
    mbps: Number.NaN,
    ms: Number.NaN,
    bytes: 0,
    cpuSPerGB: Number.NaN,
    peakRssMB: Number.NaN,
    startRssMB: Number.NaN,
    error: (err as Error).message ?? String(err)
  }
}

export function mediansOf(runs: readonly RunSample[]): Medians {
  const ups = runs.map((r) => r.upload).filter((s): s is TransferSample => s?.ok === true)
  const downs = runs.map((r) => r.download).filter((s): s is TransferSample => s?.ok === true)
  const fields: [keyof Medians, TransferSample[], (s: TransferSample) => number | undefined][] = [
    ['uploadMBps', ups, (s) => s.mbps],
    ['downloadMBps', downs, (s) => s.mbps],
    ['uploadCpuSPerGB', ups, (s) => s.cpuSPerGB],
    ['downloadCpuSPerGB', downs, (s) => s.cpuSPerGB],
    ['uploadPeakRssMB', ups, (s) => s.peakRssMB],
    ['downloadPeakRssMB', downs, (s) => s.peakRssMB],
    ['ttfbMs', downs, (s) => s.ttfbMs],
    ['uploadNetCpuSPerGB', ups, (s) => s.netCpuSPerGB],
    ['downloadNetCpuSPerGB', downs, (s) => s.netCpuSPerGB]
  ]
  const out: Medians = {}
  for (const [key, list, f] of fields) {
    const values = list.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v))
    if (values.length > 0) out[key] = round(median(values), 2)
  }
  const all = [...ups, ...downs]
  const loads = all.map((s) => s.load1).filter((v): v is number => v !== undefined && Number.isFinite(v))
  if (loads.length > 0) out.load1 = round(median(loads), 1)
  const unsettled = all.filter((s) => s.settle?.settled === false && Number.isFinite(s.settle.cores)).length
  if (unsettled > 0) out.unsettled = unsettled
  return out
}

function describeSample(s: TransferSample | undefined): string {
  if (s === undefined) return '-'
  if (!s.ok) return `FAILED (${s.error ?? 'unknown'})`
  const events = Object.entries(s.events ?? {})
    .filter(([type]) => type !== 'piece')
    .map(([type, n]) => `${n} ${type}`)
  return [
    `${s.mbps} MB/s`,
    `client ${s.cpuSPerGB} CPU s/GB`,
    ...(s.netCpuSPerGB === undefined ? [] : [`nodes ${s.netCpuSPerGB} CPU s/GB`]),
    `peak RSS ${s.peakRssMB} MB`,
    ...(s.ttfbMs === undefined ? [] : [`TTFB ${s.ttfbMs} ms (get() returned after ${s.openMs ?? '?'} ms)`]),
    ...events,
    ...(s.load1 === undefined ? [] : [`load ${s.load1}`])
  ].join(', ')
}

/** Uploads then downloads the file `runs` times into `row` (a fresh name each time). Stops at the first failure. */
async function uploadDownloadRuns(
  ctx: SwarmContext,
  net: Testnet,
  session: SavedSession,
  row: SwarmRow,
  file: TestFile,
  runs: number
): Promise<void> {
  for (let r = 0; r < runs; r++) {
    const name = `${row.id}-run${r}`
    const upload = await transfer(ctx, net, job(ctx, 'upload', session, name, file))
    const sample: RunSample = { upload }
    row.runs.push(sample)
    ctx.log(`  ${row.id} run ${r + 1}/${runs} upload:   ${describeSample(upload)}`)
    if (!upload.ok) {
      row.errors.push(`run ${r + 1} upload: ${upload.error}`)
      break
    }
    sample.download = await transfer(ctx, net, job(ctx, 'download', session, name, file))
    ctx.log(`  ${row.id} run ${r + 1}/${runs} download: ${describeSample(sample.download)}`)
    if (!sample.download.ok) {
      row.errors.push(`run ${r + 1} download: ${sample.download.error}`)
      break
    }
  }
  row.median = mediansOf(row.runs)
}

function newRow(
  partial: Omit<SwarmRow, 'runs' | 'median' | 'errors' | 'applicable'> & { applicable?: boolean }
): SwarmRow {
  return { applicable: true, ...partial, runs: [], median: {}, errors: [] }
}

function capId(cap: number | null): string {
  return cap === null ? 'uncapped' : `cap${round(cap / MB, 2)}`
}

/** Node counts x (uncapped, capped) x sizes: one testnet per node count and cap, every size uploaded into it. */
export async function runSwarmMatrix(ctx: SwarmContext): Promise<SwarmRow[]> {
  const { options } = ctx
  const rows: SwarmRow[] = []
  for (const nodes of options.nodes) {
    const layout = layoutFor(options, nodes)
    if ('reason' in layout) {
      rows.push(
        newRow({
          id: `swarm-${nodes}n`,
          kind: 'swarm',
          title: `${nodes} node${nodes === 1 ? '' : 's'}`,
          nodes,
          capMBps: null,
          size: 0,
          applicable: false,
          note: layout.reason
        })
      )
      ctx.log(`swarm: ${nodes} node(s): ${layout.reason}`)
      continue
    }
    const { k, m } = layout
    for (const cap of [null, options.cap]) {
      ctx.log(`swarm: ${nodes} nodes, k=${k} m=${m}, egress cap ${rateLabel(cap)}: starting the testnet`)
      const netRows = options.sizes.map((size) =>
        newRow({
          id: `swarm-${nodes}n-${k}+${m}-${capId(cap)}-${sizeLabel(size).replace(' ', '')}`,
          kind: 'swarm',
          title: `swarm ${nodes} nodes ${k}+${m}, ${cap === null ? 'uncapped' : `${rateLabel(cap)} each`}, ${sizeLabel(size)}`,
          nodes,
          k,
          m,
          capMBps: cap === null ? null : cap / MB,
          size
        })
      )
      rows.push(...netRows)
      try {
        await withBenchNet(ctx, { nodes, k, m, egress: cap }, async (net, session) => {
          for (const row of netRows) {
            const file = await ctx.files.get(row.size)
            await uploadDownloadRuns(ctx, net, session, row, file, runsFor(options, row.size))
          }
        })
      } catch (err) {
        for (const row of netRows) if (row.runs.length === 0) row.errors.push(`testnet: ${(err as Error).message}`)
        ctx.log(`swarm: ${nodes} nodes cap ${rateLabel(cap)}: ${(err as Error).message}`)
      }
    }
  }
  return rows
}

function findSwarmRow(
  rows: readonly SwarmRow[],
  nodes: number,
  cap: number | null,
  size: number,
  k: number,
  m: number
) {
  return rows.find(
    (r) =>
      r.kind === 'swarm' &&
      r.nodes === nodes &&
      r.size === size &&
      r.k === k &&
      r.m === m &&
      r.capMBps === (cap === null ? null : cap / MB) &&
      r.median.downloadMBps !== undefined
  )
}

/**
 * Fault runs at `--fault-nodes` and `--fault-size`: one node 10x slower than the rest (capped and uncapped
 * variants), and m nodes killed half way through a download. Each is set beside a healthy run: the matching
 * matrix row when this run has one, otherwise one measured here.
 */
export async function runFaults(ctx: SwarmContext, matrix: readonly SwarmRow[]): Promise<SwarmRow[]> {
  const { options } = ctx
  const nodes = options.faultNodes
  const layout = layoutFor(options, nodes)
  const size = options.faultSize
  if ('reason' in layout) {
    ctx.log(`faults: ${nodes} nodes: ${layout.reason}`)
    return [
      newRow({
        id: 'faults',
        kind: 'slow-node',
        title: `fault runs at ${nodes} nodes`,
        nodes,
        capMBps: null,
        size,
        applicable: false,
        note: layout.reason
      })
    ]
  }
  const { k, m } = layout
  const file = await ctx.files.get(size)
  const runs = runsFor(options, size)
  const rows: SwarmRow[] = []

  const healthy = async (cap: number | null): Promise<SwarmRow | undefined> => {
    const found = findSwarmRow(matrix, nodes, cap, size, k, m)
    if (found !== undefined) return found
    const row = newRow({
      id: `fault-healthy-${nodes}n-${capId(cap)}-${sizeLabel(size).replace(' ', '')}`,
      kind: 'fault-healthy',
      title: `healthy ${nodes} nodes ${k}+${m}, ${cap === null ? 'uncapped' : `${rateLabel(cap)} each`}, ${sizeLabel(size)}`,
      nodes,
      k,
      m,
      capMBps: cap === null ? null : cap / MB,
      size
    })
    rows.push(row)
    ctx.log(`faults: healthy reference, ${nodes} nodes, cap ${rateLabel(cap)}`)
    await guarded(ctx, row, () =>
      withBenchNet(ctx, { nodes, k, m, egress: cap }, (net, session) =>
        uploadDownloadRuns(ctx, net, session, row, file, runs)
      )
    )
    return row.median.downloadMBps === undefined ? undefined : row
  }

  // (a) One node 10x slower: all capped, node 0 at a tenth of the cap.
  const cappedHealthy = await healthy(options.cap)
  const slowCapped = newRow({
    id: `slow-node-${nodes}n-cap${round(options.cap / MB, 2)}`,
    kind: 'slow-node',
    title: `slow node: ${nodes} nodes at ${rateLabel(options.cap)}, node 0 at ${rateLabel(options.slowCap)}, ${sizeLabel(size)}`,
    nodes,
    k,
    m,
    capMBps: options.cap / MB,
    slowNode: { index: 0, capMBps: round(options.slowCap / MB, 3) },
    size,
    ...(cappedHealthy === undefined ? {} : { compareTo: cappedHealthy.id })
  })
  rows.push(slowCapped)
  ctx.log(`faults: ${slowCapped.title}`)
  await guarded(ctx, slowCapped, () =>
    withBenchNet(ctx, { nodes, k, m, egress: (i) => (i === 0 ? options.slowCap : options.cap) }, (net, session) =>
      uploadDownloadRuns(ctx, net, session, slowCapped, file, runs)
    )
  )

  // (a') Uncapped, node 0 alone capped at a tenth of the measured uncapped per-node rate.
  const uncappedHealthy = await healthy(null)
  if (uncappedHealthy?.median.downloadMBps !== undefined) {
    const perNode = (uncappedHealthy.median.downloadMBps * MB) / nodes
    const slowRate = perNode / 10
    const slowUncapped = newRow({
      id: `slow-node-${nodes}n-uncapped`,
      kind: 'slow-node',
      title: `slow node: ${nodes} nodes uncapped, node 0 at ${rateLabel(slowRate)} (a tenth of the per-node rate), ${sizeLabel(size)}`,
      nodes,
      k,
      m,
      capMBps: null,
      slowNode: { index: 0, capMBps: round(slowRate / MB, 3) },
      size,
      compareTo: uncappedHealthy.id,
      note: `per-node rate = healthy uncapped download ${uncappedHealthy.median.downloadMBps} MB/s / ${nodes} nodes`
    })
    rows.push(slowUncapped)
    ctx.log(`faults: ${slowUncapped.title}`)
    await guarded(ctx, slowUncapped, () =>
      withBenchNet(ctx, { nodes, k, m, egress: (i) => (i === 0 ? slowRate : null) }, (net, session) =>
        uploadDownloadRuns(ctx, net, session, slowUncapped, file, runs)
      )
    )
  }

  // (b) m nodes killed when the client has delivered half the bytes; healthy downloads in the same net.
  rows.push(...(await killRuns(ctx, nodes, k, m, file, runs)))

  for (const row of rows) {
    const ref = rows.find((r) => r.id === row.compareTo) ?? matrix.find((r) => r.id === row.compareTo)
    const a = row.median.downloadMBps
    const b = ref?.median.downloadMBps
    if (a !== undefined && b !== undefined && b > 0) row.downloadRatio = round(a / b, 3)
  }
  return rows
}

async function guarded(ctx: SwarmContext, row: SwarmRow, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    row.errors.push((err as Error).message)
    ctx.log(`  ${row.id}: ${(err as Error).message}`)
  }
}

async function killRuns(
  ctx: SwarmContext,
  nodes: number,
  k: number,
  m: number,
  file: TestFile,
  runs: number
): Promise<SwarmRow[]> {
  const size = file.size
  const base = `kill-${m}-of-${nodes}n-${k}+${m}`
  const healthyRow = newRow({
    id: `${base}-healthy`,
    kind: 'fault-healthy',
    title: `kill test reference: ${nodes} nodes ${k}+${m} uncapped, ${sizeLabel(size)}, nobody killed`,
    nodes,
    k,
    m,
    capMBps: null,
    size
  })
  // With k + m = n every node holds a piece of every segment; the last m nodes go.
  const victims = Array.from({ length: m }, (_, i) => nodes - 1 - i)
  const killRow = newRow({
    id: base,
    kind: 'kill',
    title: `kill: ${m} of ${nodes} nodes (${k}+${m}) killed half way, uncapped, ${sizeLabel(size)}`,
    nodes,
    k,
    m,
    capMBps: null,
    size,
    compareTo: healthyRow.id,
    note:
      k + m === nodes
        ? `nodes ${victims.join(', ')} SIGKILLed when the client reported half the bytes; each holds a piece of every segment`
        : `nodes ${victims.join(', ')} SIGKILLed half way; with k + m < n they hold pieces of some segments only`
  })
  ctx.log(`faults: ${killRow.title}`)
  await guarded(ctx, killRow, () =>
    withBenchNet(ctx, { nodes, k, m, egress: null }, async (net, session) => {
      const name = `${base}-file`
      const upload = await transfer(ctx, net, job(ctx, 'upload', session, name, file))
      healthyRow.runs.push({ upload })
      ctx.log(`  ${killRow.id} upload: ${describeSample(upload)}`)
      if (!upload.ok) throw new Error(`upload: ${upload.error}`)
      for (let r = 0; r < runs; r++) {
        const healthy = await transfer(ctx, net, job(ctx, 'download', session, name, file))
        if (r === 0) healthyRow.runs[0]!.download = healthy
        else healthyRow.runs.push({ download: healthy })
        ctx.log(`  ${killRow.id} run ${r + 1}/${runs} healthy download: ${describeSample(healthy)}`)
        if (!healthy.ok) healthyRow.errors.push(`run ${r + 1}: ${healthy.error}`)

        let killing: Promise<void> | undefined
        const done = await settle(ctx, net)
        const proc = startClient(
          job(ctx, 'download', session, name, file, Math.max(1, Math.floor(size / 64))),
          (bytes) => {
            if (killing !== undefined || bytes < size / 2) return
            killing = Promise.all(victims.map((i) => net.killNode(i))).then(() => proc.mark('killed'))
          }
        )
        let sample: TransferSample
        let result: ClientResult | undefined
        try {
          result = await proc.result
          sample = toSample(result)
        } catch (err) {
          sample = failed(err)
        }
        await killing
        sample = withNetCpu(byIndex(net, sample), done())
        const bytesAtKill = result?.marks[0]?.bytes ?? Number.NaN
        const kill: KillInfo = { victims, bytesAtKill, landed: killing !== undefined && bytesAtKill < size }
        killRow.runs.push({ download: sample, kill })
        ctx.log(
          `  ${killRow.id} run ${r + 1}/${runs} killed download: ${describeSample(sample)}; kill done at ${round(bytesAtKill / size, 2) * 100}% (${kill.landed ? 'mid-download' : 'TOO LATE: the download had finished'})`
        )
        if (!sample.ok) killRow.errors.push(`run ${r + 1}: ${sample.error}`)
        else if (!kill.landed) killRow.errors.push(`run ${r + 1}: the kill landed after the download finished`)
        // Bring the victims back (same data, same identity) for the next pair.
        if (killing !== undefined && r < runs - 1) {
          for (const i of victims) await net.restartNode(i)
          await net.waitForOnline()
        }
      }
    })
  )
  healthyRow.median = mediansOf(healthyRow.runs)
  killRow.median = mediansOf(killRow.runs.filter((r) => r.kill?.landed === true))
  return [healthyRow, killRow]
}

/** `--big`: a 2 GiB file up and down at the fault-run node count, uncapped, for the client's peak RSS. */
export async function runBig(ctx: SwarmContext, size: number): Promise<SwarmRow[]> {
  const nodes = ctx.options.faultNodes
  const layout = layoutFor(ctx.options, nodes)
  if ('reason' in layout) return []
  const { k, m } = layout
  const row = newRow({
    id: `big-${nodes}n-${k}+${m}-${sizeLabel(size).replace(' ', '')}`,
    kind: 'big',
    title: `big file: ${nodes} nodes ${k}+${m} uncapped, ${sizeLabel(size)}`,
    nodes,
    k,
    m,
    capMBps: null,
    size
  })
  ctx.log(`big: ${row.title}`)
  const file = await ctx.files.get(size)
  await guarded(ctx, row, () =>
    withBenchNet(ctx, { nodes, k, m, egress: null }, async (net, session) => {
      await uploadDownloadRuns(ctx, net, session, row, file, 1)
      if (row.runs[0]?.upload?.ok === true) row.cliGet = await cliGet(ctx, net, session, file, `${row.id}-run0`)
      if (row.cliGet !== undefined) ctx.log(`  ${row.id} shoal get: ${describeCli(row.cliGet)}`)
      if (row.cliGet?.error !== undefined) row.errors.push(`shoal get: ${row.cliGet.error}`)
    })
  )
  return [row]
}

/** `shoal get NAME -` in the SDK's session (the CLI's session file holds the same fields), hashed and metered. */
async function cliGet(ctx: SwarmContext, net: Testnet, session: SavedSession, file: TestFile, name: string) {
  const home = await mkdtemp(join(tmpdir(), 'shoal-bench-cli-'))
  try {
    await writeFile(join(home, 'session.json'), JSON.stringify(session), { mode: 0o600 })
    const env = { SHOAL_HOME: home, SHOAL_TRACKER: net.tracker.url }
    return await shoalTransfer('get', env, home, file, name, transferTimeoutMs(ctx.options, file.size))
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}

function describeCli(s: Sample): string {
  if (!s.ok) return `FAILED ${s.error}`
  return `${s.mbps} MB/s, ${s.cpuSPerGB ?? '-'} CPU s/GB, peak RSS ${s.peakRssMB ?? '-'} MB`
}
