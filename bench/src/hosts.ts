/**
 * The hosts part (`--only hosts`): what a user runs, on simulated hosts, side by side with WebTorrent and one HTTP
 * server. Each storage node on a host of its own (network namespace, own /24, upload capped by the kernel: the
 * testnet's hosts mode, docs/testbed.md); per run: `shoal put` as a process, the first `shoal get` right after it,
 * a later `shoal get` once the testnet has gone quiet, the SDK's get (client-run.ts), and a WebTorrent leecher
 * pulling the same bytes from one seeder per host (same namespace, so the same cap). Falls back to loopback
 * (caps applied by the processes themselves) when namespaces are unavailable, and says so in every row.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type SavedSession, ShoalClient } from '@shoal/client'
import { HostNetwork, type ReadyProcess, spawnReady, stopProcess, Testnet, type TestnetInit } from '@shoal/testnet'
import { fetchHashed } from './baselines.ts'
import { runClient } from './client-runner.ts'
import type { TestFile, TestFiles } from './files.ts'
import { type BenchOptions, transferTimeoutMs } from './options.ts'
import { CpuMeter, waitForQuiet } from './proc-cpu.ts'
import { MB, MiB, mbps, median, round, sizeLabel } from './stats.ts'
import { makeTorrent } from './torrent-file.ts'

const SHOAL_BIN = fileURLToPath(new URL('../../packages/cli/bin/shoal.js', import.meta.url))
const CLI_METER = fileURLToPath(new URL('./cli-meter.mjs', import.meta.url))
const WT_PEER = fileURLToPath(new URL('./webtorrent-peer.mjs', import.meta.url))
const HTTP_SERVE = fileURLToPath(new URL('./http-serve.ts', import.meta.url))
/** The HTTP baseline serves at most this much (at 10 MB/s, 64 MiB is 7 s): its rate is the cap, whatever the size. */
const HTTP_MAX = 64 * MiB

export type HostsScenario = 'capped' | 'uneven' | 'uncapped'
export const HOSTS_SCENARIOS: readonly HostsScenario[] = ['capped', 'uneven', 'uncapped']

/** What exitOf reports for a process ended by a signal (our SIGKILL at the bound). */
const KILLED = 128

/** One transfer by one process. */
export interface HostsSample {
  ok: boolean
  mbps: number
  /**
   * From spawning the process to the last byte (process start included): `shoal get`'s last byte on stdout,
   * `shoal put --json`'s result line; SDK: from calling get().
   */
  ms: number
  /** `shoal`: from spawn to the process's exit (longer than ms when it lingers after its result). */
  exitMs?: number
  bytes: number
  /** CLI get: from spawning `shoal get NAME -` to the first byte on its stdout; SDK: from calling get(). */
  ttfbMs?: number
  /** Client process CPU seconds (user + system, all threads) per 10^9 plaintext bytes. */
  cpuSPerGB?: number
  peakRssMB?: number
  /** CPU of the serving side during the transfer per 10^9 bytes: tracker and nodes, or the seeders. */
  serversCpuSPerGB?: number
  match?: boolean
  error?: string
  load1: number
  /** Whether the testnet had gone quiet before it started (undefined: not waited for, the first get). */
  settled?: boolean
}

/** What a transfer function measures; the harness adds the load and the serving side's CPU. */
export type Sample = Omit<HostsSample, 'load1' | 'serversCpuSPerGB' | 'settled'>

export type HostsKind = 'put' | 'firstGet' | 'laterGet' | 'sdkGet' | 'webtorrent'
export const HOSTS_KINDS: readonly HostsKind[] = ['put', 'firstGet', 'laterGet', 'sdkGet', 'webtorrent']

export interface HostsRow {
  id: string
  scenario: HostsScenario
  /** 'hosts' (namespaces, kernel caps) or 'loopback' (fallback or --loopback: caps applied by the processes). */
  mode: 'hosts' | 'loopback'
  fallback?: string
  nodes: number
  k: number
  m: number
  /** Upload cap of each host in MB/s (null: uncapped). */
  capsMBps: (number | null)[]
  size: number
  runs: Partial<Record<HostsKind, HostsSample>>[]
  /** Medians over the runs that succeeded. */
  median: Partial<
    Record<
      HostsKind,
      { mbps: number; ttfbMs?: number; cpuSPerGB?: number; serversCpuSPerGB?: number; peakRssMB?: number }
    >
  >
  /** One HTTP server on the fastest host, same cap: MB/s of one download. */
  http?: { mbps: number; bytes: number; capMBps: number | null; match: boolean }
  /**
   * The links' ceiling: a plain HTTP server on every host, each sending its share of the file (in proportion to
   * its cap) to one client at once. No protocol moves these bytes faster over these hosts; MB/s from the first
   * request to the last byte.
   */
  links?: { mbps: number; bytes: number; match: boolean }
  ratios: {
    laterVsWebtorrent?: number
    firstVsWebtorrent?: number
    firstVsLater?: number
    sdkVsWebtorrent?: number
    laterVsHttp?: number
    /** Later `shoal get` (process start included) / the links' ceiling. */
    laterVsLinks?: number
    /**
     * The median over runs of (later get / WebTorrent) within each run: the two are measured a minute apart, so
     * under a load that changes from run to run (other people's jobs) this pairs like with like.
     */
    pairedLaterVsWebtorrent?: number
  }
  errors: string[]
}

export interface HostsContext {
  options: BenchOptions
  files: TestFiles
  workDir: string
  log: (line: string) => void
}

/** The caps of a scenario, bytes/s per host. */
function capsFor(options: BenchOptions, scenario: HostsScenario, nodes: number): (number | null)[] {
  return Array.from({ length: nodes }, (_, i) => {
    if (scenario === 'uncapped') return null
    if (scenario === 'capped') return options.cap
    const list = options.unevenCaps
    return list[i % list.length] ?? null
  })
}

function sizesFor(options: BenchOptions, scenario: HostsScenario): number[] {
  if (options.hostsSizes !== undefined) return options.hostsSizes
  if (options.quick) return [256 * MiB]
  return scenario === 'capped' ? [256 * MiB, 1024 * MiB] : scenario === 'uneven' ? [256 * MiB] : [1024 * MiB]
}

export async function runHosts(ctx: HostsContext): Promise<HostsRow[]> {
  const { options, log } = ctx
  let fallback: string | undefined
  if (options.network === 'loopback') fallback = 'loopback asked for (--loopback)'
  else {
    fallback = await HostNetwork.unavailable()
    if (fallback !== undefined) {
      log(
        `WARNING: hosts mode unavailable (${fallback}); the hosts part runs on LOOPBACK, caps applied by the processes`
      )
    }
  }
  const rows: HostsRow[] = []
  for (const scenario of options.hostsScenarios) {
    for (const size of sizesFor(options, scenario)) {
      rows.push(await runScenario(ctx, scenario, size, fallback))
    }
  }
  return rows
}

/** One testnet (and one seeder per host) for a scenario and size; `runs` rounds of every transfer. */
async function runScenario(
  ctx: HostsContext,
  scenario: HostsScenario,
  size: number,
  fallback: string | undefined
): Promise<HostsRow> {
  const { options, log } = ctx
  const nodes = options.hostsNodes
  const k = options.k ?? Math.floor(nodes / 2)
  const m = options.m ?? nodes - k
  const caps = capsFor(options, scenario, nodes)
  const mode = fallback === undefined ? 'hosts' : 'loopback'
  const row: HostsRow = {
    id: `hosts-${scenario}-${nodes}n-${sizeLabel(size).replace(' ', '')}`,
    scenario,
    mode,
    ...(fallback === undefined ? {} : { fallback }),
    nodes,
    k,
    m,
    capsMBps: caps.map((c) => (c === null ? null : round(c / MB, 2))),
    size,
    runs: [],
    median: {},
    ratios: {},
    errors: []
  }
  log(
    `hosts: ${scenario}, ${nodes} ${mode === 'hosts' ? 'hosts' : 'LOOPBACK nodes'}, ${k}+${m}, ${sizeLabel(size)}, caps ${row.capsMBps.map((c) => c ?? '-').join(',')} MB/s`
  )
  const file = await ctx.files.get(size)
  const dir = join(ctx.workDir, row.id)
  await mkdir(join(dir, 'logs'), { recursive: true })
  const init: TestnetInit = {
    nodes,
    k,
    m,
    trackerArgs: ['--quota', '1TB'],
    nodeCapacity: '64GiB',
    // Nothing here stops a node, and on a loaded 2-core machine a heartbeat can be late by many seconds: a node
    // counted offline would fail a put that needs all k + m hosts.
    offlineAfter: '180s',
    // What a deployed node does (DEFAULT_HEARTBEAT_INTERVAL_MS), not the tests' 1 s: eight nodes beating every
    // second took CPU from the transfers being measured.
    heartbeatInterval: '30s',
    readyTimeoutMs: 180_000,
    ...(options.segmentSize === undefined ? {} : { segmentSize: options.segmentSize }),
    ...(mode === 'hosts'
      ? { hosts: { uplink: (i: number) => caps[i] ?? null, required: true } }
      : { nodeArgs: (i: number) => (caps[i] == null ? [] : ['--egress-limit', String(Math.round(caps[i]!))]) })
  }
  let net: Testnet
  try {
    net = await Testnet.start(init)
  } catch (err) {
    // Recorded, and the next scenario still runs (a node slow to start on a loaded machine fails only this row).
    row.errors.push(`testnet: ${(err as Error).message.split('\n')[0]}`)
    log(`  FAILED to start the testnet: ${row.errors[0]}`)
    return row
  }
  log(`  testnet up (${net.mode}${net.hosts === undefined ? '' : `, 10.${net.hosts.range}.0.0/16`})`)
  const servers: ReadyProcess[] = []
  const teardown = async (): Promise<void> => {
    await Promise.all(servers.map((s) => stopProcess(s, 'SIGTERM')))
    await net.stop()
    await rm(dir, { recursive: true, force: true })
  }
  // Ctrl-C mid-run: stop the seeders, the testnet and its namespaces before exiting, or they outlive the bench.
  const interrupted = (): void => {
    void teardown().finally(() => process.exit(130))
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    const wrap = (i: number) =>
      net.hosts === undefined ? {} : { wrap: (c: string, a: string[]) => net.hosts!.wrap(i, c, a) }
    const addressOf = (i: number): string => net.nodes[i]?.host?.address ?? '127.0.0.1'
    // WebTorrent: hash the file once, then one seeder per host, each holding the whole file.
    const torrent = join(dir, 'bench.torrent')
    await writeFile(torrent, await makeTorrent(file.path, file.size, 'bench.bin'))
    const peers: string[] = []
    for (let i = 0; i < nodes; i++) {
      const seedDir = join(dir, `seed-${i}`)
      await mkdir(seedDir, { recursive: true })
      await link(file.path, join(seedDir, 'bench.bin'))
      const cap = caps[i]
      const job = {
        mode: 'seed',
        torrent,
        dir: seedDir,
        ...(mode === 'loopback' && cap != null ? { uploadLimit: cap } : {})
      }
      const seeder = await spawnReady(WT_PEER, [JSON.stringify(job)], {
        logFile: join(dir, 'logs', `seeder-${i}.log`),
        label: `webtorrent seeder ${i}`,
        ...wrap(i)
      })
      servers.push(seeder)
      peers.push(`${addressOf(i)}:${Number(seeder.ready.port)}`)
    }
    const seederPids = servers.map((s) => s.child.pid!)
    log(`  torrent made, ${nodes} WebTorrent seeders ready`)

    // The CLI's session, made as a user makes it; the SDK logs in to the same account.
    const env = {
      SHOAL_HOME: join(dir, 'shoal-home'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: `bench-${randomBytes(4).toString('hex')}@example.com`,
      SHOAL_PASSWORD: randomBytes(16).toString('hex')
    }
    const signup = await runShoal(['signup'], env, dir, 60_000)
    if (signup.code !== 0) throw new Error(`shoal signup failed: ${signup.stderr.trim().split('\n').pop()}`)
    const sdk = await ShoalClient.login({
      tracker: net.tracker.url,
      email: env.SHOAL_EMAIL,
      password: env.SHOAL_PASSWORD
    })
    const session = sdk.session()
    await sdk.stop()

    const netPids = (): number[] => [net.tracker.pid, ...net.nodes.filter((n) => n.running).map((n) => n.pid)]
    const timeoutMs = transferTimeoutMs(options, size)
    for (let r = 0; r < options.runs; r++) {
      const name = `bench-${r}.bin`
      const run: HostsRow['runs'][number] = {}
      row.runs.push(run)
      const step = async (kind: HostsKind, quiet: boolean, pids: () => number[], fn: () => Promise<Sample>) => {
        const settled = quiet ? (await waitForQuiet(netPids(), { timeoutMs: 30_000 })).settled : undefined
        const load1 = round(loadavg()[0] ?? Number.NaN, 2)
        const meter = new CpuMeter(pids)
        let sample: HostsSample
        try {
          sample = { ...(await fn()), load1 }
        } catch (err) {
          sample = { ok: false, mbps: Number.NaN, ms: Number.NaN, bytes: 0, error: (err as Error).message, load1 }
        }
        const used = meter.stop().total
        if (sample.ok) sample.serversCpuSPerGB = round(used / (size / 1e9), 2)
        if (settled !== undefined) sample.settled = settled
        run[kind] = sample
        if (sample.error !== undefined) row.errors.push(`run ${r + 1} ${kind}: ${sample.error}`)
        log(
          `  run ${r + 1} ${kind.padEnd(10)} ${sample.ok ? `${round(sample.mbps)} MB/s` : `FAILED ${sample.error}`}${sample.ttfbMs === undefined ? '' : `, first byte ${round(sample.ttfbMs)} ms`}${lingered(sample)}`
        )
      }
      await step('put', true, netPids, () => shoalTransfer('put', env, dir, file, name, timeoutMs))
      // Right after the upload: whatever the nodes do after taking it competes with this download.
      await step('firstGet', false, netPids, () => shoalTransfer('get', env, dir, file, name, timeoutMs))
      await step('laterGet', true, netPids, () => shoalTransfer('get', env, dir, file, name, timeoutMs))
      await step('sdkGet', true, netPids, () => sdkGet(session, options, file, name, timeoutMs))
      await step(
        'webtorrent',
        true,
        () => seederPids,
        () => leech(dir, torrent, peers, file, timeoutMs)
      )
      // Frees the nodes' disks between runs (1 GiB x k+m/k per run); not timed.
      await runShoal(['rm', name], env, dir, 60_000)
    }

    // The single-server baseline: one HTTP server on the fastest host, under that host's cap.
    const fastest = caps.reduce<number>((best, c, i) => ((c ?? Infinity) > (caps[best] ?? Infinity) ? i : best), 0)
    const httpFile = await ctx.files.get(Math.min(size, HTTP_MAX))
    const cap = caps[fastest] ?? null
    const job = {
      file: httpFile.path,
      size: httpFile.size,
      host: addressOf(fastest),
      ...(mode === 'loopback' && cap !== null ? { rate: cap } : {})
    }
    const http = await spawnReady(HTTP_SERVE, [JSON.stringify(job)], {
      logFile: join(dir, 'logs', 'http.log'),
      label: 'http server',
      ...wrap(fastest)
    })
    servers.push(http)
    try {
      const got = await fetchHashed(`http://${addressOf(fastest)}:${Number(http.ready.port)}/file`, timeoutMs)
      row.http = {
        mbps: round(mbps(got.bytes, got.ms), 2),
        bytes: got.bytes,
        capMBps: cap === null ? null : round(cap / MB, 2),
        match: got.sha256 === httpFile.sha256
      }
      if (!row.http.match) row.errors.push('the HTTP baseline downloaded different bytes than it served')
    } catch (err) {
      row.errors.push(`http: ${(err as Error).message}`)
    }
    try {
      row.links = await linksCeiling(file, caps, { dir, mode, timeoutMs, wrap, addressOf, servers })
      if (!row.links.match) row.errors.push('the links ceiling downloaded different bytes than it served')
      log(`  links ceiling: ${row.links.mbps} MB/s`)
    } catch (err) {
      row.errors.push(`links: ${(err as Error).message}`)
    }
  } catch (err) {
    row.errors.push((err as Error).message)
    log(`  FAILED: ${(err as Error).message}`)
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await teardown()
  }
  summarize(row)
  return row
}

/**
 * One plain HTTP server per host, each serving a slice of `file` sized in proportion to its host's cap (equal
 * slices when uncapped), all fetched at once: what the hosts' links can carry to one client.
 */
async function linksCeiling(
  file: TestFile,
  caps: readonly (number | null)[],
  at: {
    dir: string
    mode: 'hosts' | 'loopback'
    timeoutMs: number
    wrap: (i: number) => { wrap?: (command: string, args: string[]) => { command: string; args: string[] } }
    addressOf: (i: number) => string
    servers: ReadyProcess[]
  }
): Promise<NonNullable<HostsRow['links']>> {
  const weights = caps.map((c) => c ?? 1)
  const total = weights.reduce((a, b) => a + b, 0)
  const slices: { start: number; size: number }[] = []
  let start = 0
  weights.forEach((w, i) => {
    const size = i === weights.length - 1 ? file.size - start : Math.floor((file.size * w) / total)
    slices.push({ start, size })
    start += size
  })
  const urls: string[] = []
  for (const [i, slice] of slices.entries()) {
    const cap = caps[i] ?? null
    const job = {
      file: file.path,
      size: slice.size,
      start: slice.start,
      host: at.addressOf(i),
      ...(at.mode === 'loopback' && cap !== null ? { rate: cap } : {})
    }
    const server = await spawnReady(HTTP_SERVE, [JSON.stringify(job)], {
      logFile: join(at.dir, 'logs', `links-${i}.log`),
      label: `links server ${i}`,
      ...at.wrap(i)
    })
    at.servers.push(server)
    urls.push(`http://${at.addressOf(i)}:${Number(server.ready.port)}/file`)
  }
  const t0 = performance.now()
  const got = await Promise.all(urls.map((url) => fetchHashed(url, at.timeoutMs)))
  const ms = performance.now() - t0
  const bytes = got.reduce((sum, g) => sum + g.bytes, 0)
  const expected = await Promise.all(slices.map((slice) => hashSlice(file.path, slice.start, slice.size)))
  return { mbps: round(mbps(bytes, ms), 2), bytes, match: got.every((g, i) => g.sha256 === expected[i]) }
}

async function hashSlice(path: string, start: number, size: number): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { start, end: start + size - 1 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** ', exited 12.3 s after its result' for a `shoal` process that lingered more than 2 s; '' otherwise. */
export function lingered(sample: HostsSample): string {
  const lag = (sample.exitMs ?? sample.ms) - sample.ms
  return lag > 2_000 ? `, exited ${round(lag / 1000)} s after its result` : ''
}

/** Medians and ratios of a row from its runs (also run again by --render). */
export function summarize(row: HostsRow): void {
  for (const kind of HOSTS_KINDS) {
    const ok = row.runs.map((r) => r[kind]).filter((s): s is HostsSample => s?.ok === true)
    if (ok.length === 0) continue
    const med = (f: (s: HostsSample) => number | undefined): number | undefined => {
      const values = ok.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v))
      return values.length === 0 ? undefined : round(median(values), 2)
    }
    const summary: NonNullable<HostsRow['median'][HostsKind]> = { mbps: med((s) => s.mbps) ?? Number.NaN }
    for (const field of ['ttfbMs', 'cpuSPerGB', 'serversCpuSPerGB', 'peakRssMB'] as const) {
      const value = med((s) => s[field])
      if (value !== undefined) summary[field] = value
    }
    row.median[kind] = summary
  }
  const m = row.median
  const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined || b <= 0 ? undefined : round(a / b, 2)
  row.ratios = {
    ...optional('laterVsWebtorrent', ratio(m.laterGet?.mbps, m.webtorrent?.mbps)),
    ...optional('firstVsWebtorrent', ratio(m.firstGet?.mbps, m.webtorrent?.mbps)),
    ...optional('firstVsLater', ratio(m.firstGet?.mbps, m.laterGet?.mbps)),
    ...optional('sdkVsWebtorrent', ratio(m.sdkGet?.mbps, m.webtorrent?.mbps)),
    ...optional('laterVsHttp', ratio(m.laterGet?.mbps, row.http?.mbps)),
    ...optional('laterVsLinks', ratio(m.laterGet?.mbps, row.links?.mbps))
  }
  const paired = row.runs
    .map((r) =>
      r.laterGet?.ok === true && r.webtorrent?.ok === true ? r.laterGet.mbps / r.webtorrent.mbps : Number.NaN
    )
    .filter((v) => Number.isFinite(v))
  if (paired.length > 0) row.ratios.pairedLaterVsWebtorrent = round(median(paired), 2)
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>)
}

interface ShoalRun {
  code: number
  stderr: string
  /** ms from spawn to exit. */
  ms: number
  /** ms from spawn to the result: the last expected byte on stdout (get), the JSON result line (put --json). */
  doneMs?: number
  /** ms from spawn to the first stdout byte (get to "-"). */
  firstByteMs?: number
  stdoutBytes: number
  stdoutSha256: string
  meter?: { cpuUserMs: number; cpuSystemMs: number; peakRssMB: number }
}

/** Runs `shoal ARGS` as a user does (a fresh process), hashing its stdout, and reads its own CPU and RSS. */
async function runShoal(
  args: string[],
  env: Record<string, string>,
  dir: string,
  timeoutMs: number,
  /** When the process has done its job: stdout carries this many bytes, or (-1) one whole line. */
  doneAt?: number
): Promise<ShoalRun> {
  const meterFile = join(dir, `meter-${randomBytes(4).toString('hex')}.json`)
  const t0 = performance.now()
  const child = spawn(process.execPath, ['--import', CLI_METER, SHOAL_BIN, ...args], {
    cwd: dir,
    env: { ...process.env, ...env, SHOAL_BENCH_METER: meterFile },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const hash = createHash('sha256')
  let stdoutBytes = 0
  let firstByteMs: number | undefined
  let doneMs: number | undefined
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    firstByteMs ??= performance.now() - t0
    hash.update(chunk)
    stdoutBytes += chunk.byteLength
    if (doneMs === undefined && (doneAt === -1 ? chunk.includes(10) : stdoutBytes === doneAt)) {
      doneMs = performance.now() - t0
    }
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const code = await exitOf(child, timeoutMs)
  const ms = performance.now() - t0
  const meter = await readFile(meterFile, 'utf8').then(
    (text) => JSON.parse(text) as ShoalRun['meter'],
    () => undefined
  )
  await rm(meterFile, { force: true })
  return {
    code,
    stderr,
    ms,
    ...(doneMs === undefined ? {} : { doneMs }),
    ...(firstByteMs === undefined ? {} : { firstByteMs }),
    stdoutBytes,
    stdoutSha256: hash.digest('hex'),
    ...(meter === undefined ? {} : { meter })
  }
}

/** Resolves with the exit code once the process has exited and its output is read; SIGKILL after the bound. */
function exitOf(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve(code ?? (signal === null ? -1 : KILLED))
    })
  })
}

function cliSample(run: ShoalRun, bytes: number, ok: boolean, error: string | undefined): Sample {
  const cpuS = run.meter === undefined ? undefined : (run.meter.cpuUserMs + run.meter.cpuSystemMs) / 1000
  const ms = run.doneMs ?? run.ms
  return {
    ok,
    mbps: ok ? round(mbps(bytes, ms)) : Number.NaN,
    ms: round(ms),
    exitMs: round(run.ms),
    bytes,
    ...(run.firstByteMs === undefined ? {} : { ttfbMs: round(run.firstByteMs) }),
    ...(cpuS === undefined ? {} : { cpuSPerGB: round(cpuS / (bytes / 1e9), 2) }),
    ...(run.meter === undefined ? {} : { peakRssMB: round(run.meter.peakRssMB) }),
    ...(error === undefined ? {} : { error })
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? ''
}

/** `shoal put FILE NAME`, or `shoal get NAME -` with its stdout hashed and compared with the source. */
export async function shoalTransfer(
  command: 'put' | 'get',
  env: Record<string, string>,
  dir: string,
  file: TestFile,
  name: string,
  timeoutMs: number
): Promise<Sample> {
  const args = command === 'put' ? ['put', '--json', file.path, name] : ['get', name, '-']
  const run = await runShoal(args, env, dir, timeoutMs, command === 'put' ? -1 : file.size)
  const match = command === 'put' ? undefined : run.stdoutBytes === file.size && run.stdoutSha256 === file.sha256
  // Done, then killed at the bound because it did not exit: the transfer counts, the hang is recorded (exitMs).
  const hungAfterDone = run.doneMs !== undefined && run.code === KILLED
  const error =
    run.code !== 0 && !hungAfterDone
      ? `shoal ${command} exited ${run.code}: ${lastLine(run.stderr)}`
      : match === false
        ? 'downloaded bytes differ from the source (sha256 mismatch)'
        : undefined
  const sample = cliSample(run, file.size, error === undefined, error)
  if (command === 'put') delete sample.ttfbMs // its only stdout line is the result
  return { ...sample, ...(match === undefined ? {} : { match }) }
}

async function sdkGet(
  session: SavedSession,
  options: BenchOptions,
  file: TestFile,
  name: string,
  timeoutMs: number
): Promise<Sample> {
  const r = await runClient({
    mode: 'download',
    session,
    name,
    size: file.size,
    sha256: file.sha256,
    clientInit: options.clientInit,
    options: options.downloadOptions,
    progressEvery: 0,
    timeoutMs
  })
  const cpuS = (r.cpuUserMs + r.cpuSystemMs) / 1000
  return {
    ok: r.ok,
    mbps: r.ok ? round(mbps(r.bytes, r.ms)) : Number.NaN,
    ms: round(r.ms),
    bytes: r.bytes,
    ...(r.ttfbMs === undefined ? {} : { ttfbMs: round(r.ttfbMs) }),
    ...(r.bytes > 0 ? { cpuSPerGB: round(cpuS / (r.bytes / 1e9), 2) } : {}),
    peakRssMB: round(r.peakRssMB),
    ...(r.match === undefined ? {} : { match: r.match }),
    ...(r.error === undefined
      ? r.match === false
        ? { error: 'sha256 mismatch' }
        : {}
      : { error: `${r.error.code}: ${r.error.message}` })
  }
}

/** A fresh WebTorrent process downloads the file from the seeders; timed from its spawn, like `shoal get`. */
async function leech(
  dir: string,
  torrent: string,
  peers: string[],
  file: TestFile,
  timeoutMs: number
): Promise<Sample> {
  const out = join(dir, `leech-${randomBytes(4).toString('hex')}`)
  await mkdir(out, { recursive: true })
  try {
    const t0 = performance.now()
    const child = spawn(
      process.execPath,
      [WT_PEER, JSON.stringify({ mode: 'leech', torrent, dir: out, peers, timeoutMs })],
      {
        stdio: ['ignore', 'pipe', 'pipe']
      }
    )
    let stdout = ''
    let stderr = ''
    let doneAt: number | undefined
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString()
      if (doneAt === undefined && stdout.includes('"type":"result"')) doneAt = performance.now() - t0
    })
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000)
    })
    const code = await exitOf(child, timeoutMs + 30_000)
    const line = stdout.split('\n').find((l) => l.includes('"type":"result"'))
    if (code !== 0 || line === undefined || doneAt === undefined) {
      throw new Error(`webtorrent leecher exited ${code}: ${lastLine(stderr)}`)
    }
    const result = JSON.parse(line) as { cpuUserMs: number; cpuSystemMs: number; peakRssMB: number }
    // Checked after the clock stopped, as WebTorrent has already checked every piece's SHA-1.
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of createReadStream(join(out, 'bench.bin'))) {
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).byteLength
    }
    const match = bytes === file.size && hash.digest('hex') === file.sha256
    return {
      ok: match,
      mbps: match ? round(mbps(file.size, doneAt)) : Number.NaN,
      ms: round(doneAt),
      bytes: file.size,
      cpuSPerGB: round((result.cpuUserMs + result.cpuSystemMs) / 1000 / (file.size / 1e9), 2),
      peakRssMB: round(result.peakRssMB),
      match,
      ...(match ? {} : { error: 'downloaded bytes differ from the source (sha256 mismatch)' })
    }
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}
