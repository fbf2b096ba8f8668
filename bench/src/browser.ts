import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SavedSession } from '@shoal/client'
import { Testnet } from '@shoal/testnet'
import { CHROMIUM_FLAGS, CHROMIUM_PATH, ensureWebUiBuilt, startWebUiServer } from '@shoal/web-ui'
import { startClient } from './client-runner.ts'
import { TestFiles } from './files.ts'
import { waitForQuiet } from './proc-cpu.ts'
import { MiB, mbps, median, round, sizeLabel } from './stats.ts'

/**
 * The browser run of `pnpm bench`: headless Chromium runs web-ui/bench.html, which uploads and downloads with
 * the same @shoal/client data path as the app and reports its own timing; then the Node client (client-run.ts,
 * worker-thread codec, TCP) does the same on the same testnet. Chromium is started directly, not through a
 * driver: an attached DevTools session halves the page's throughput (STACK.md).
 */
export interface BrowserBenchInit {
  nodes: number
  k: number
  m: number
  size: number
  runs: number
  segmentSize?: string
  /** The page's codec engine: Web Workers (the app's) or the page's own thread; default workers. */
  codec?: 'workers' | 'local'
  log: (line: string) => void
}

export interface BrowserBenchRow {
  nodes: number
  k: number
  m: number
  size: number
  runs: number
  browser: {
    uploadMBps: number
    downloadMBps: number
    ttfbMs: number
    samples: { up: number; down: number }[]
    /** The page's peak JS heap (MB) during its uploads and downloads: bounded by the segment window, not the size. */
    peakHeapMB?: { upload: number; download: number }
    /** The longest task on the page's thread (ms), over all runs: how long the page froze at worst. */
    longestTaskMs?: { upload: number; download: number }
  }
  codec: 'workers' | 'local'
  node: { uploadMBps: number; downloadMBps: number; ttfbMs: number; samples: { up: number; down: number }[] }
  /** Browser download over Node download; the target is >= BROWSER_TARGET. */
  downloadRatio: number
  userAgent?: string
  error?: string
}

const CHROMIUM = CHROMIUM_PATH
/**
 * BENCH_CHROMIUM_ARGS adds flags, as a JSON array: e.g. `["--js-flags=--prof --logfile=/tmp/v8.log"]` profiles
 * every isolate (page and workers) without the DevTools session that would slow the page down; read the logs
 * with `node --prof-process`.
 */
/** Issue 11: the browser downloads at >= 60% of the Node client's speed on the same network. */
const BROWSER_TARGET = 0.6
const CHROMIUM_ARGS = ['--headless', ...CHROMIUM_FLAGS, ...extraChromiumArgs(process.env.BENCH_CHROMIUM_ARGS)]

function extraChromiumArgs(json: string | undefined): string[] {
  if (json === undefined || json.trim() === '') return []
  const args: unknown = JSON.parse(json)
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new TypeError('BENCH_CHROMIUM_ARGS must be a JSON array of strings')
  }
  return args
}

interface PageReport {
  ok: boolean
  error?: string
  userAgent?: string
  session?: SavedSession
  results?: {
    uploadMs: number
    downloadMs: number
    ttfbMs: number
    bytes: number
    uploadHeapMB: number
    downloadHeapMB: number
    uploadLongestTaskMs?: number
    downloadLongestTaskMs?: number
  }[]
}

/** Collects the page's report; answers /go once the testnet is quiet. */
async function reportServer(quiet: () => Promise<unknown>) {
  let resolveReport: (r: PageReport) => void = () => {}
  const report = new Promise<PageReport>((resolve) => {
    resolveReport = resolve
  })
  const server = createServer((request, response) => {
    response.setHeader('access-control-allow-origin', '*')
    if (request.method === 'GET' && request.url?.endsWith('/go') === true) {
      void quiet().then(() => response.end('go'))
      return
    }
    const chunks: Buffer[] = []
    request.on('data', (c: Buffer) => chunks.push(c))
    request.on('end', () => {
      response.end('ok')
      try {
        resolveReport(JSON.parse(Buffer.concat(chunks).toString()) as PageReport)
      } catch {
        resolveReport({ ok: false, error: 'the page sent an unreadable report' })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`
  return { url, report, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

export async function runBrowserBench(init: BrowserBenchInit): Promise<BrowserBenchRow> {
  const row: BrowserBenchRow = {
    nodes: init.nodes,
    k: init.k,
    m: init.m,
    size: init.size,
    runs: init.runs,
    codec: init.codec ?? 'workers',
    browser: { uploadMBps: 0, downloadMBps: 0, ttfbMs: 0, samples: [] },
    node: { uploadMBps: 0, downloadMBps: 0, ttfbMs: 0, samples: [] },
    downloadRatio: 0
  }
  if (!existsSync(CHROMIUM)) return { ...row, error: `${CHROMIUM} is missing (apt-get install -y chromium)` }
  await ensureWebUiBuilt()
  const work = await mkdtemp(join(tmpdir(), 'shoal-bench-browser-'))
  const net = await Testnet.start({
    nodes: init.nodes,
    k: init.k,
    m: init.m,
    ...(init.segmentSize === undefined ? {} : { segmentSize: init.segmentSize })
  })
  const pids = () => [net.tracker.pid, ...net.nodes.filter((n) => n.running).map((n) => n.pid)]
  const ui = await startWebUiServer({ tracker: net.tracker.url })
  const reports = await reportServer(() => waitForQuiet(pids()))
  try {
    await waitForQuiet(pids())
    init.log(`browser: ${init.nodes} nodes ${init.k}+${init.m}, ${sizeLabel(init.size)} x ${init.runs} in Chromium`)
    const page = `${ui.url}/bench.html?size=${init.size}&runs=${init.runs}&codec=${row.codec}&report=${encodeURIComponent(reports.url)}`
    const chromium = spawn(CHROMIUM, [...CHROMIUM_ARGS, `--user-data-dir=${join(work, 'profile')}`, page], {
      stdio: 'ignore'
    })
    const timeout = setTimeout(() => chromium.kill('SIGKILL'), 60_000 + (init.size / MiB) * 2_000 * init.runs)
    const exited = new Promise<PageReport>((resolve) =>
      chromium.once('exit', () => resolve({ ok: false, error: 'Chromium exited before the page reported' }))
    )
    const report = await Promise.race([reports.report, exited])
    clearTimeout(timeout)
    chromium.kill('SIGTERM')
    if (!report.ok || report.results === undefined || report.session === undefined) {
      return { ...row, error: report.error ?? 'no result' }
    }
    row.userAgent = report.userAgent
    for (const r of report.results) {
      if (r.bytes !== init.size) return { ...row, error: `the page downloaded ${r.bytes} of ${init.size} bytes` }
      row.browser.samples.push({ up: mbps(init.size, r.uploadMs), down: mbps(r.bytes, r.downloadMs) })
    }
    row.browser.ttfbMs = round(median(report.results.map((r) => r.ttfbMs)), 0)
    row.browser.peakHeapMB = {
      upload: Math.max(...report.results.map((r) => r.uploadHeapMB)),
      download: Math.max(...report.results.map((r) => r.downloadHeapMB))
    }
    row.browser.longestTaskMs = {
      upload: Math.max(...report.results.map((r) => r.uploadLongestTaskMs ?? 0)),
      download: Math.max(...report.results.map((r) => r.downloadLongestTaskMs ?? 0))
    }

    // The Node client, same testnet and account, one process per transfer as `shoal put`/`get` would be.
    const file = await new TestFiles(work, 'browser-bench').get(init.size)
    const ttfbs: number[] = []
    for (let run = 0; run < init.runs; run++) {
      const common = {
        session: report.session,
        name: `node-${run}.bin`,
        size: init.size,
        sha256: file.sha256,
        clientInit: {},
        options: {},
        progressEvery: 0,
        timeoutMs: 600_000
      }
      await waitForQuiet(pids())
      init.log(`browser: node client run ${run + 1}/${init.runs}`)
      const up = await startClient({ ...common, mode: 'upload', file: file.path }).result
      await waitForQuiet(pids())
      const down = await startClient({ ...common, mode: 'download' }).result
      if (!up.ok || !down.ok || down.match !== true) {
        return { ...row, error: `node client: ${up.error?.message ?? down.error?.message ?? 'bytes differ'}` }
      }
      row.node.samples.push({ up: mbps(init.size, up.ms), down: mbps(init.size, down.ms) })
      if (down.ttfbMs !== undefined) ttfbs.push(down.ttfbMs)
    }
    row.node.ttfbMs = round(median(ttfbs), 0)
    for (const side of [row.browser, row.node]) {
      side.uploadMBps = round(median(side.samples.map((s) => s.up)))
      side.downloadMBps = round(median(side.samples.map((s) => s.down)))
    }
    row.downloadRatio = round(row.browser.downloadMBps / row.node.downloadMBps, 2)
    return row
  } finally {
    await reports.close()
    await ui.close()
    await net.stop()
    await rm(work, { recursive: true, force: true })
  }
}

export function browserTable(rows: readonly BrowserBenchRow[]): string {
  const lines = [
    `| browser vs Node client | page codec | size | browser up MB/s | browser down MB/s | Node up MB/s | Node down MB/s | browser/Node down | target >= ${BROWSER_TARGET} | TTFB browser / Node ms | page heap peak up / down MB | page longest task up / down ms |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    const name = `${r.nodes} nodes ${r.k}+${r.m}`
    if (r.error !== undefined) {
      lines.push(`| ${name} | ${r.codec} | ${sizeLabel(r.size)} | failed: ${r.error} | | | | | missed | | | |`)
      continue
    }
    lines.push(
      `| ${name} | ${r.codec} | ${sizeLabel(r.size)} | ${r.browser.uploadMBps} | ${r.browser.downloadMBps} | ${r.node.uploadMBps} | ${r.node.downloadMBps} | ${r.downloadRatio} | ${r.downloadRatio >= BROWSER_TARGET ? 'met' : 'missed'} | ${r.browser.ttfbMs} / ${r.node.ttfbMs} | ${r.browser.peakHeapMB?.upload ?? '?'} / ${r.browser.peakHeapMB?.download ?? '?'} | ${r.browser.longestTaskMs?.upload ?? '?'} / ${r.browser.longestTaskMs?.download ?? '?'} |`
    )
  }
  return lines.join('\n')
}

// Standalone: node bench/src/browser.ts [--nodes N] [--size MiB] [--runs R] [--codec workers|local]
if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util')
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '4' },
      size: { type: 'string', default: '64' },
      runs: { type: 'string', default: '2' },
      codec: { type: 'string', default: 'workers' }
    }
  })
  if (values.codec !== 'workers' && values.codec !== 'local') throw new Error('--codec must be workers or local')
  const nodes = Number(values.nodes)
  const row = await runBrowserBench({
    nodes,
    k: Math.max(2, Math.floor(nodes / 2)),
    m: Math.max(1, Math.floor(nodes / 2)),
    size: Number(values.size) * MiB,
    runs: Number(values.runs),
    codec: values.codec,
    log: (line) => process.stderr.write(`${line}\n`)
  })
  process.stdout.write(`${browserTable([row])}\n\n${JSON.stringify(row)}\n`)
  process.exit(row.error === undefined ? 0 : 1)
}
