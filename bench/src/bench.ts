/**
 * `pnpm bench [-- --quick]`: Shoal's throughput on this machine. Codec ceilings, loopback baselines, a real
 * testnet at several node counts, sizes and egress caps, and fault runs; a table on stdout, JSON, Markdown and
 * an SVG chart in bench/results/. See bench/README.md.
 */

import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseBytes } from '@shoal/core'
import { type BaselineResult, cappedHttp, rawTcp } from './baselines.ts'
import { type BrowserBenchRow, browserTable, runBrowserBench } from './browser.ts'
import { ensureCliBundle } from './cli-bundle.ts'
import { benchCodec, type CodecResult } from './codec.ts'
import { TestFiles } from './files.ts'
import { type HostsRow, runHosts, summarize } from './hosts.ts'
import { hostsTables } from './hosts-report.ts'
import { evaluateHostsTargets } from './hosts-targets.ts'
import { type BenchOptions, layoutFor, readOptions, runsFor, transferTimeoutMs, USAGE } from './options.ts'
import { baselineTable, chartSvg, codecTable, swarmTable, targetTable } from './report.ts'
import { GiB, MiB, rateLabel, round, sizeLabel } from './stats.ts'
import { runBig, runFaults, runSwarmMatrix, type SwarmContext, type SwarmRow } from './swarm.ts'
import { evaluateTargets, type Target } from './targets.ts'

interface BenchResult {
  schema: string
  commit: string
  uncommittedOutsideBench: string[]
  date: string
  durationS: number
  command: string
  quick: boolean
  segmentSize: number
  machine: ReturnType<typeof machine> & { loadavgEnd: number[] }
  options: BenchOptions
  units: Record<string, string>
  codec: CodecResult[]
  baselines: BaselineResult[]
  scenarios: SwarmRow[]
  /** Headless Chromium vs the Node client on one testnet (part 'browser'). */
  browser?: BrowserBenchRow[]
  /** Part 'hosts': shoal put/get as processes on simulated hosts, side by side with WebTorrent and HTTP. */
  hosts?: HostsRow[]
  targets: Target[]
  failures: string[]
}

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const DEFAULT_OUT = fileURLToPath(new URL('../results/', import.meta.url))
const BIG_SIZE = 2 * GiB

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trimEnd()
  } catch {
    return 'unknown'
  }
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
}

function machine() {
  const list = cpus()
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGB: round(totalmem() / 1e9, 1),
    freeMemoryGB: round(freemem() / 1e9, 1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavg: loadavg().map((v) => round(v, 2))
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2)
  const only = args.indexOf('--only')
  if (only >= 0 && args[only + 1] === 'tracker-scale') {
    // Its own part with its own options: a tracker under load, not transfers (bench/src/tracker-scale.ts).
    const { runTrackerScale } = await import('./tracker-scale.ts')
    return runTrackerScale(args)
  }
  if (only >= 0 && args[only + 1] === 'idle') {
    // An idle network's CPU over minutes (bench/src/idle.ts).
    const { runIdle } = await import('./idle.ts')
    return runIdle(args)
  }
  let options: BenchOptions | 'help'
  try {
    options = readOptions(process.argv.slice(2), DEFAULT_OUT)
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  if (options.render !== undefined) return render(options.render)
  const started = new Date()
  const t0 = performance.now()
  const commit = git(['rev-parse', 'HEAD'])
  const dirty = git(['status', '--porcelain', '--untracked-files=no'])
    .split('\n')
    .filter((l) => l.trim().length > 0 && !l.includes('bench/'))
  const machineStart = machine()
  const segmentSize = options.segmentSize === undefined ? 8 * MiB : parseBytes(options.segmentSize)
  log(
    `commit ${commit.slice(0, 12)}${dirty.length > 0 ? ` (+${dirty.length} uncommitted changes outside bench/)` : ''}, ${machineStart.cpus} cpus, load ${machineStart.loadavg.join(' ')}`
  )
  log(
    `${options.quick ? 'quick' : 'full'} run: sizes ${options.sizes.map(sizeLabel).join(', ')}; nodes ${options.nodes.join(', ')}; cap ${rateLabel(options.cap)}; parts ${options.parts.join(', ')}`
  )

  if (options.parts.includes('hosts') || options.parts.includes('big')) log(ensureCliBundle())

  const workDir = await mkdtemp(join(tmpdir(), 'shoal-bench-'))
  const files = new TestFiles(workDir, options.seed)
  const ctx: SwarmContext = { options, files, log }
  let codec: CodecResult[] = []
  const baselines: BaselineResult[] = []
  let rows: SwarmRow[] = []
  const browser: BrowserBenchRow[] = []
  let hosts: HostsRow[] = []
  const failures: string[] = []
  try {
    if (options.parts.includes('codec')) {
      const layouts = [
        { k: 4, m: 2 },
        { k: 10, m: 4 }
      ]
      for (const n of options.nodes) {
        const l = layoutFor(options, n)
        if (!('reason' in l) && !layouts.some((x) => x.k === l.k && x.m === l.m)) layouts.push(l)
      }
      log(`codec ceilings: ${layouts.map((l) => `${l.k}+${l.m}`).join(', ')}`)
      codec = await benchCodec(layouts, options.quick ? 3 : 5, 3)
    }
    if (options.parts.includes('baselines')) {
      log(`baseline: raw loopback TCP, ${sizeLabel(options.tcpSize)}`)
      baselines.push(await rawTcp(options.tcpSize, options.runs))
      const file = await files.get(options.httpSize)
      log(`baseline: one HTTP server capped at ${rateLabel(options.cap)}, ${sizeLabel(file.size)}`)
      const http = await cappedHttp(
        file,
        options.cap,
        runsFor(options, file.size),
        transferTimeoutMs(options, file.size)
      )
      baselines.push(http)
      if (http.match === false) failures.push('the HTTP baseline downloaded different bytes than it served')
    }
    if (options.parts.includes('swarm')) rows = await runSwarmMatrix(ctx)
    if (options.parts.includes('faults')) rows.push(...(await runFaults(ctx, rows)))
    if (options.parts.includes('big')) rows.push(...(await runBig(ctx, BIG_SIZE)))
    if (options.parts.includes('browser')) {
      const nodes = options.quick ? 4 : 8
      const layout = layoutFor(options, nodes)
      const row = await runBrowserBench({
        nodes,
        ...('reason' in layout ? { k: nodes / 2, m: nodes / 2 } : layout),
        size: options.quick ? 64 * MiB : 256 * MiB,
        runs: Math.min(options.runs, 2),
        ...(options.segmentSize === undefined ? {} : { segmentSize: options.segmentSize }),
        log
      })
      browser.push(row)
      if (row.error !== undefined) failures.push(`browser run: ${row.error}`)
    }
    if (options.parts.includes('hosts')) {
      hosts = await runHosts({ options, files, workDir, log })
      for (const row of hosts) for (const e of row.errors) failures.push(`${row.id}: ${e}`)
    }
  } finally {
    await rm(workDir, { recursive: true, force: true })
  }

  for (const row of rows) {
    for (const run of row.runs) {
      for (const s of [run.upload, run.download]) {
        if (s?.match === false) failures.push(`${row.id}: downloaded bytes differ from the source`)
      }
    }
    // A failed transfer in a fault run is a result (its target is missed); anywhere else the bench failed.
    if (row.errors.length > 0 && (row.kind === 'swarm' || row.kind === 'big' || row.kind === 'fault-healthy')) {
      failures.push(`${row.id}: ${row.errors.join('; ')}`)
    }
  }
  const targets = [
    ...evaluateTargets(rows, baselines, segmentSize, options.parts.includes('big')),
    ...evaluateHostsTargets(hosts)
  ]
  const machineEnd = machine()
  const durationS = round((performance.now() - t0) / 1000, 1)

  const command = `pnpm bench${
    process.argv.length > 2
      ? ` -- ${process.argv
          .slice(2)
          .filter((a) => a !== '--')
          .join(' ')}`
      : ''
  }`
  const stamp = started.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-')
  const stem = `${stamp}-${commit.slice(0, 7)}${options.quick ? '-quick' : ''}`
  const result: BenchResult = {
    schema: 'shoal-bench/1',
    commit,
    uncommittedOutsideBench: dirty,
    date: started.toISOString(),
    durationS,
    command,
    quick: options.quick,
    segmentSize,
    machine: { ...machineStart, loadavgEnd: machineEnd.loadavg },
    options,
    units: {
      throughput: 'MB/s = 10^6 plaintext bytes per second (upload: the file size over the time put() took)',
      cpu: 'client process CPU seconds (user + system, all threads) per 10^9 plaintext bytes, sink hashing included',
      rss: 'peak resident set of the client process, MB = 10^6 bytes',
      ttfb: 'ms from calling get() to the first plaintext chunk'
    },
    codec,
    baselines,
    scenarios: rows,
    browser,
    ...(hosts.length === 0 ? {} : { hosts }),
    targets,
    failures
  }
  await mkdir(options.out, { recursive: true })
  const jsonPath = join(options.out, `${stem}.json`)
  await writeFile(jsonPath, `${JSON.stringify(result, null, 2)}\n`)
  const { tables, summary } = await writeReports(result, join(options.out, stem))
  const browserTables = browser.length > 0 ? [browserTable(browser)] : []
  process.stdout.write(`\n${[...tables, ...browserTables].join('\n\n')}\n\n${summary} ${durationS} s.\n`)
  process.stdout.write(
    `JSON:  ${relative(REPO, jsonPath)}\nchart: ${relative(REPO, join(options.out, `${stem}.svg`))}\n`
  )
  process.stdout.write(`table: ${relative(REPO, join(options.out, `${stem}.md`))}\n`)
  if (failures.length > 0) {
    process.stdout.write(`\nFAILED:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`)
    return 1
  }
  return 0
}

/** Writes `<base>.svg` and `<base>.md` for a result; returns the tables and the targets line. */
async function writeReports(result: BenchResult, base: string): Promise<{ tables: string[]; summary: string }> {
  const { codec, baselines, scenarios: rows, targets, failures, machine: m } = result
  const tables: string[] = []
  if (codec.length > 0) tables.push(`### Codec ceilings (single thread, in-process)\n\n${codecTable(codec)}`)
  if (baselines.length > 0) tables.push(`### Baselines\n\n${baselineTable(baselines)}`)
  if (rows.length > 0) {
    tables.push(`### Network (testnet on 127.0.0.1, medians)\n\n${swarmTable(rows, baselines, result.segmentSize)}`)
  }
  if (result.hosts !== undefined && result.hosts.length > 0) {
    tables.push(
      `### Hosts: \`shoal\` processes on simulated hosts, side by side with WebTorrent\n\n${hostsTables(result.hosts)}`
    )
  }
  tables.push(`### Targets\n\n${targetTable(targets)}`)
  const tcp = baselines.find((b) => b.id === 'raw-tcp')
  const stem = base.split('/').pop() ?? base
  await writeFile(
    `${base}.svg`,
    chartSvg(
      rows,
      baselines,
      `Shoal throughput, ${stem}`,
      `${m.cpus} cpus, ${m.node}; MB/s = 10^6 B/s${tcp === undefined ? '' : `; raw loopback TCP ${tcp.median} MB/s (off scale)`}`
    )
  )
  const met = targets.filter((t) => t.met === true).length
  const missed = targets.filter((t) => t.met === false).length
  const summary = `Targets: ${met} met, ${missed} missed, ${targets.length - met - missed} not run.`
  const md = [
    `## ${result.date.slice(0, 16).replace('T', ' ')} UTC, commit ${result.commit.slice(0, 7)}${result.quick ? ' (--quick)' : ''}`,
    '',
    `Command: \`${result.command}\` (${result.durationS} s). Machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryGB} GB, Node ${m.node}, load ${m.loadavg.join(' ')} at start, ${m.loadavgEnd.join(' ')} at end.` +
      (result.uncommittedOutsideBench.length > 0
        ? ` Measured with ${result.uncommittedOutsideBench.length} uncommitted changes outside bench/ (in ${dirtyAreas(result.uncommittedOutsideBench)}; listed in the JSON).`
        : ''),
    '',
    ...tables.flatMap((t) => [t, '']),
    summary,
    // Whole messages are in the JSON; a few hundred characters each say enough here.
    ...(failures.length > 0
      ? ['', 'FAILURES:', ...failures.map((f) => `- ${f.length > 400 ? `${f.slice(0, 400)}...` : f}`)]
      : []),
    ''
  ].join('\n')
  await writeFile(`${base}.md`, md)
  return { tables, summary }
}

/** 'node/src, tracker/src' from `git status --porcelain` lines. */
function dirtyAreas(lines: readonly string[]): string {
  const areas = new Set(
    lines.map((l) =>
      l
        .replace(/^\s*\S+\s+/, '')
        .split('/')
        .slice(0, 2)
        .join('/')
    )
  )
  return [...areas].join(', ')
}

/**
 * `--render FILE.json`: judge the targets again and rewrite the chart and tables of an earlier run (after a change
 * to the report or target code). The measurements are not touched.
 */
async function render(path: string): Promise<number> {
  const result = JSON.parse(await readFile(path, 'utf8')) as BenchResult
  result.segmentSize ??= 8 * MiB
  result.quick ??= result.command.includes('--quick')
  for (const row of result.hosts ?? []) summarize(row)
  // Targets are judged again from the stored medians, so a change to how a target is judged applies too.
  result.targets = [
    ...evaluateTargets(result.scenarios, result.baselines, result.segmentSize, result.options.parts.includes('big')),
    ...evaluateHostsTargets(result.hosts ?? [])
  ]
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`)
  const { tables, summary } = await writeReports(result, path.replace(/\.json$/, ''))
  process.stdout.write(`${tables.join('\n\n')}\n\n${summary}\n`)
  return 0
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(1)
  }
)
