import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parseBytes } from '@shoal/core'
import { MiB } from './stats.ts'

export const USAGE = `Usage: pnpm bench [-- options]

Measures Shoal's throughput on this machine: codec ceilings, loopback baselines, a real testnet (tracker and
storage nodes as processes on 127.0.0.1) at several node counts, sizes and egress caps, and fault runs (one slow
node, m nodes killed mid-download). Prints a table, writes JSON and an SVG chart to bench/results/.

Scope:
  --quick                 16 MiB and 64 MiB, 1/4/8 nodes: a few minutes
  --big                   also upload and download a 2 GiB file (peak client RSS target); not with --quick
  --only LIST             run only these parts: codec,baselines,swarm,faults,big,browser,hosts (default: all that
                          apply but hosts; browser: headless Chromium's upload and download vs the Node client, same
                          testnet; hosts: shoal put/get as processes on simulated hosts beside WebTorrent, below)
  --only tracker-scale    the tracker at scale instead (a synthetic network through the store, HTTP load, one
                          JSON line); its options: --only tracker-scale --help
  --only idle             an idle testnet's CPU instead (16 nodes and the tracker, /proc, one JSON line); its
                          options: --only idle --help
  --runs N                samples per measurement below 1 GiB (default 3; 1 GiB and up always run once)
  --sizes LIST            file sizes (default 16MiB,256MiB,1GiB; quick 16MiB,64MiB)
  --nodes LIST            node counts (default 1,4,8,16; quick 1,4,8)
  --cap RATE              the per-node egress cap of the capped runs (default 10MB/s)
  --k N --m N             override the layout at every node count (default k = m = nodes / 2)
  --segment-size SIZE     the tracker's segment size (default: the tracker's, 8 MiB)
  --fault-nodes N         node count of the fault runs (default 8)
  --fault-size SIZE       file size of the fault runs (default 256MiB; quick 64MiB)
  --slow-cap RATE         node 0's cap when the others have --cap (default: a tenth of --cap)
  --http-size SIZE        file served by the single-server HTTP baseline (default: the smallest size)
  --tcp-size SIZE         bytes sent by the raw TCP baseline (default 256MiB)
  --timeout SECONDS       bound on each transfer (default 60 s + 1 s per 2 MB)
  --seed TEXT             seed of the test files' bytes (default shoal-bench)
  --out DIR               results folder (default bench/results)

Hosts part (--only hosts; each node on a host of its own, upload capped by the kernel; see docs/testbed.md):
  --hosts / --loopback    run it on simulated hosts (default; needs root and iproute2, else it falls back to
                          loopback and says so) or on loopback (caps applied by the processes themselves)
  --hosts-scenarios LIST  capped (every host at --cap), uneven (--uneven-caps), uncapped (default: all three;
                          quick: capped)
  --hosts-sizes LIST      file sizes for every scenario (default: capped 256MiB,1GiB; uneven 256MiB; uncapped
                          1GiB; quick: 256MiB)
  --hosts-nodes N         hosts (storage nodes, and WebTorrent seeders) per scenario (default 8)
  --uneven-caps LIST      per-host caps of the uneven scenario (default 3,5,8,10,15,20,30,40 MB/s)
  Every run of every scenario: shoal put, first shoal get right after it, a later shoal get once the testnet is
  quiet, the SDK's get, and a WebTorrent download from one seeder per host; --runs of each (3 at every size).

Client (passed through to the client process; check ShoalClientInit for what the engine accepts):
  --codec NAME            ShoalClientInit.codec, e.g. workers or local
  --workers N             ShoalClientInit.workers
  --download-window N     segments fetched ahead (get option segmentWindow)
  --extra-pieces N        pieces requested beyond k (get option extraPieces)
  --upload-window N       segments encoded and sent at once (put option segmentWindow)
  --client-init JSON      any other ShoalClientInit fields, merged in
  --client-profile DIR    write V8 CPU profiles (.cpuprofile, one per thread) of every client process to DIR
  --node-profile DIR      the same for the tracker and storage nodes (written when each testnet stops)
  --render FILE.json      rewrite the chart and tables (.svg, .md beside it) of an earlier run, run nothing
  -h, --help              show this help

Sizes take B, KB, MB, GB, KiB, MiB, GiB; rates are per second. MB/s means 10^6 bytes per second.
`

export type Part = 'codec' | 'baselines' | 'swarm' | 'faults' | 'big' | 'browser' | 'hosts'
const PARTS: readonly Part[] = ['codec', 'baselines', 'swarm', 'faults', 'big', 'browser', 'hosts']
/** Parts that run only when named in --only: hosts needs root and takes tens of minutes. */
const OPT_IN: readonly Part[] = ['hosts']
const HOSTS_SCENARIOS = ['capped', 'uneven', 'uncapped'] as const

export interface BenchOptions {
  quick: boolean
  big: boolean
  parts: Part[]
  runs: number
  sizes: number[]
  nodes: number[]
  /** Bytes per second. */
  cap: number
  k: number | undefined
  m: number | undefined
  segmentSize: string | undefined
  faultNodes: number
  faultSize: number
  slowCap: number
  httpSize: number
  tcpSize: number
  /** Seconds; undefined = derived from the size. */
  timeout: number | undefined
  seed: string
  out: string
  /** Merged into ShoalClientInit in the client process. */
  clientInit: Record<string, unknown>
  /** Per-call options of get(). */
  downloadOptions: Record<string, unknown>
  /** Per-call options of put(). */
  uploadOptions: Record<string, unknown>
  clientProfile: string | undefined
  nodeProfile: string | undefined
  render: string | undefined
  /** Hosts part: simulated hosts (default) or loopback. */
  network: 'hosts' | 'loopback'
  hostsScenarios: ('capped' | 'uneven' | 'uncapped')[]
  /** Undefined: per scenario (see hosts.ts). */
  hostsSizes: number[] | undefined
  hostsNodes: number
  /** Bytes per second per host, repeated if there are more hosts. */
  unevenCaps: number[]
}

function list(text: string, parse: (item: string) => number): number[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(parse)
}

function positiveInt(name: string, text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`--${name} must be a whole number, not "${text}"`)
  return n
}

function size(name: string, text: string): number {
  try {
    const n = parseBytes(text)
    if (n <= 0) throw new TypeError('must be positive')
    return n
  } catch (err) {
    throw new TypeError(`--${name}: ${(err as Error).message}`)
  }
}

/** Reads the command line (a leading `--` from `pnpm bench -- ...` is skipped). Throws TypeError on bad input. */
export function readOptions(argv: string[], defaultOut: string): BenchOptions | 'help' {
  const args = argv.filter((a, i) => !(a === '--' && i === 0))
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      big: { type: 'boolean' },
      only: { type: 'string' },
      runs: { type: 'string' },
      sizes: { type: 'string' },
      nodes: { type: 'string' },
      cap: { type: 'string' },
      k: { type: 'string' },
      m: { type: 'string' },
      'segment-size': { type: 'string' },
      'fault-nodes': { type: 'string' },
      'fault-size': { type: 'string' },
      'slow-cap': { type: 'string' },
      'http-size': { type: 'string' },
      'tcp-size': { type: 'string' },
      timeout: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      codec: { type: 'string' },
      workers: { type: 'string' },
      'download-window': { type: 'string' },
      'extra-pieces': { type: 'string' },
      'upload-window': { type: 'string' },
      'client-init': { type: 'string' },
      'client-profile': { type: 'string' },
      'node-profile': { type: 'string' },
      render: { type: 'string' },
      hosts: { type: 'boolean' },
      loopback: { type: 'boolean' },
      'hosts-scenarios': { type: 'string' },
      'hosts-sizes': { type: 'string' },
      'hosts-nodes': { type: 'string' },
      'uneven-caps': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) return 'help'
  const quick = values.quick === true
  const big = values.big === true && !quick
  const sizes = values.sizes === undefined ? (quick ? [16 * MiB, 64 * MiB] : [16 * MiB, 256 * MiB, 1024 * MiB]) : []
  if (values.sizes !== undefined) sizes.push(...list(values.sizes, (s) => size('sizes', s)))
  const nodes =
    values.nodes === undefined
      ? quick
        ? [1, 4, 8]
        : [1, 4, 8, 16]
      : list(values.nodes, (s) => positiveInt('nodes', s))
  let parts: Part[] = PARTS.filter((p) => !OPT_IN.includes(p))
  if (values.only !== undefined) {
    parts = values.only.split(',').map((p) => {
      if (!PARTS.includes(p as Part)) throw new TypeError(`--only: unknown part "${p}" (${PARTS.join(', ')})`)
      return p as Part
    })
  }
  if (!big) parts = parts.filter((p) => p !== 'big')
  const cap = values.cap === undefined ? 10e6 : size('cap', values.cap)
  const clientInit: Record<string, unknown> = {}
  if (values['client-init'] !== undefined) {
    const parsed: unknown = JSON.parse(values['client-init'])
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TypeError('--client-init must be a JSON object')
    }
    Object.assign(clientInit, parsed)
  }
  if (values.codec !== undefined) clientInit.codec = values.codec
  if (values.workers !== undefined) clientInit.workers = positiveInt('workers', values.workers)
  const downloadOptions: Record<string, unknown> = {}
  if (values['download-window'] !== undefined) {
    downloadOptions.segmentWindow = positiveInt('download-window', values['download-window'])
  }
  if (values['extra-pieces'] !== undefined) {
    downloadOptions.extraPieces = positiveInt('extra-pieces', values['extra-pieces'])
  }
  const uploadOptions: Record<string, unknown> = {}
  if (values['upload-window'] !== undefined) {
    uploadOptions.segmentWindow = positiveInt('upload-window', values['upload-window'])
  }
  if (values.hosts === true && values.loopback === true)
    throw new TypeError('--hosts and --loopback exclude each other')
  const hostsScenarios =
    values['hosts-scenarios'] === undefined
      ? quick
        ? (['capped'] as const).slice()
        : [...HOSTS_SCENARIOS]
      : values['hosts-scenarios'].split(',').map((s) => {
          if (!(HOSTS_SCENARIOS as readonly string[]).includes(s)) {
            throw new TypeError(`--hosts-scenarios: unknown scenario "${s}" (${HOSTS_SCENARIOS.join(', ')})`)
          }
          return s as (typeof HOSTS_SCENARIOS)[number]
        })
  const runs = values.runs === undefined ? 3 : positiveInt('runs', values.runs)
  if (runs < 1) throw new TypeError('--runs must be at least 1')
  return {
    quick,
    big,
    parts,
    runs,
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    nodes: [...new Set(nodes)].sort((a, b) => a - b),
    cap,
    k: values.k === undefined ? undefined : positiveInt('k', values.k),
    m: values.m === undefined ? undefined : positiveInt('m', values.m),
    segmentSize: values['segment-size'],
    faultNodes: values['fault-nodes'] === undefined ? 8 : positiveInt('fault-nodes', values['fault-nodes']),
    faultSize:
      values['fault-size'] === undefined ? (quick ? 64 * MiB : 256 * MiB) : size('fault-size', values['fault-size']),
    slowCap: values['slow-cap'] === undefined ? cap / 10 : size('slow-cap', values['slow-cap']),
    httpSize: values['http-size'] === undefined ? Math.min(...sizes) : size('http-size', values['http-size']),
    tcpSize: values['tcp-size'] === undefined ? 256 * MiB : size('tcp-size', values['tcp-size']),
    timeout: values.timeout === undefined ? undefined : positiveInt('timeout', values.timeout),
    seed: values.seed ?? 'shoal-bench',
    out: values.out ?? defaultOut,
    clientInit,
    downloadOptions,
    uploadOptions,
    clientProfile: values['client-profile'] === undefined ? undefined : resolve(values['client-profile']),
    nodeProfile: values['node-profile'] === undefined ? undefined : resolve(values['node-profile']),
    render: values.render === undefined ? undefined : resolve(values.render),
    network: values.loopback === true ? 'loopback' : 'hosts',
    hostsScenarios,
    hostsSizes:
      values['hosts-sizes'] === undefined ? undefined : list(values['hosts-sizes'], (s) => size('hosts-sizes', s)),
    hostsNodes: values['hosts-nodes'] === undefined ? 8 : positiveInt('hosts-nodes', values['hosts-nodes']),
    unevenCaps: list(values['uneven-caps'] ?? '3MB,5MB,8MB,10MB,15MB,20MB,30MB,40MB', (s) =>
      size('uneven-caps', s.replace(/\/s$/, ''))
    )
  }
}

/** Samples for a file of this size: the configured count below 1 GiB, one at 1 GiB and above. */
export function runsFor(options: BenchOptions, bytes: number): number {
  return bytes >= 1024 * MiB ? 1 : options.runs
}

/** Per-transfer bound in ms: generous, so it only catches a hang. */
export function transferTimeoutMs(options: BenchOptions, bytes: number): number {
  if (options.timeout !== undefined) return options.timeout * 1000
  return Math.ceil(60_000 + (bytes / 2e6) * 1000)
}

/**
 * The erasure layout at n nodes: k = m = n / 2 (rate 1/2, any half of the nodes may fail), so every node holds a
 * piece of every segment. Placement needs k + m distinct nodes and k >= 2, so fewer than 4 nodes have no
 * default layout, and 1 node has none at all.
 */
export function layoutFor(options: BenchOptions, nodes: number): { k: number; m: number } | { reason: string } {
  const k = options.k ?? Math.floor(nodes / 2)
  const m = options.m ?? nodes - k
  if (nodes < 2) {
    return { reason: 'not applicable: placement puts the k + m pieces of a segment on distinct nodes, and k >= 2' }
  }
  if (k < 2) return { reason: `not applicable: k = ${k}, but k must be at least 2` }
  if (k + m > nodes) return { reason: `not applicable: k + m = ${k + m} pieces need ${k + m} nodes, have ${nodes}` }
  return { k, m }
}
