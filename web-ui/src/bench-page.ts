import { ShoalClient } from '@shoal/client'
import { loadConfig } from './runtime.ts'

/**
 * The browser half of `pnpm bench`: the same @shoal/client data path as the app (WebCrypto, WASM Reed-Solomon,
 * libp2p over WebSockets), timed by the page itself and reported to the harness, so no driver is attached while
 * it runs (an attached DevTools session halves the page's throughput). Query: size (bytes), runs, report (URL),
 * codec (`workers`, the app's default, or `local` for the page's own thread, to compare the two), start (`call`:
 * wait for `shoalBenchStart()`, so a test can attach a profiler to the loaded page before anything runs).
 */
const params = new URLSearchParams(location.search)
const size = Number(params.get('size') ?? 64 * 1024 * 1024)
const runs = Number(params.get('runs') ?? 1)
const report = params.get('report')
const codec = params.get('codec') === 'local' ? 'local' : 'workers'
const log = document.getElementById('log')!

function say(line: string): void {
  log.textContent += `\n${line}`
}

async function send(body: unknown): Promise<void> {
  // Also left on the page, for a test that drives it without a harness.
  ;(globalThis as { shoalBench?: unknown }).shoalBench = body
  if (report === null) return
  // text/plain keeps it a simple request: no CORS preflight to the harness.
  await fetch(report, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(body) })
}

/**
 * `bytes` bytes made of one random 4 MiB block repeated (sealing makes every segment different anyway). A
 * generator rather than a Blob: Chromium refuses in-memory Blobs of several hundred MiB in a fresh profile
 * ("network error" on read), while a picked File streams from disk at any size.
 */
async function* source(bytes: number): AsyncGenerator<Uint8Array> {
  const block = new Uint8Array(4 * 1024 * 1024)
  for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536))
  for (let left = bytes; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left)
}

/**
 * Peak JS heap while `run` runs (Chromium's performance.memory), to show memory stays bounded by the window, and
 * how much the page's own thread was blocked: its long tasks (over 50 ms, when a click or a frame has to wait),
 * the longest one and their total blocking time (the part of each beyond 50 ms, as Lighthouse counts it).
 */
async function measured<T>(
  run: () => Promise<T>
): Promise<{ value: T; peakHeapMB: number; longestTaskMs: number; blockingMs: number }> {
  const heap = () => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0
  let peak = heap()
  let longest = 0
  let blocking = 0
  const tasks = new PerformanceObserver((list) => {
    for (const task of list.getEntries()) {
      longest = Math.max(longest, task.duration)
      blocking += Math.max(0, task.duration - 50)
    }
  })
  tasks.observe({ type: 'longtask' })
  const timer = setInterval(() => {
    peak = Math.max(peak, heap())
  }, 100)
  try {
    const value = await run()
    peak = Math.max(peak, heap())
    for (const task of tasks.takeRecords()) {
      longest = Math.max(longest, task.duration)
      blocking += Math.max(0, task.duration - 50)
    }
    return {
      value,
      peakHeapMB: Math.round(peak / 1e6),
      longestTaskMs: Math.round(longest),
      blockingMs: Math.round(blocking)
    }
  } finally {
    clearInterval(timer)
    tasks.disconnect()
  }
}

async function main(): Promise<void> {
  if (params.get('start') === 'call') {
    await new Promise<void>((resolve) => {
      ;(globalThis as { shoalBenchStart?: () => void }).shoalBenchStart = resolve
    })
  }
  const { tracker } = await loadConfig()
  const email = `bench-${crypto.randomUUID()}@example.com`
  const client = await ShoalClient.signup({ tracker, email, password: 'browser benchmark' }, { codec })
  const results: {
    run: number
    uploadMs: number
    downloadMs: number
    ttfbMs: number
    bytes: number
    uploadHeapMB: number
    downloadHeapMB: number
    uploadLongestTaskMs: number
    uploadBlockingMs: number
    downloadLongestTaskMs: number
    downloadBlockingMs: number
  }[] = []
  for (let run = 0; run < runs; run++) {
    const name = `bench-${run}.bin`
    const t0 = performance.now()
    const up = await measured(() => client.put(name, source(size), size))
    const uploadMs = performance.now() - t0
    say(
      `upload ${run}: ${((size / uploadMs) * 1e-3).toFixed(1)} MB/s, heap peak ${up.peakHeapMB} MB, longest task ${up.longestTaskMs} ms, blocked ${up.blockingMs} ms`
    )
    // The harness answers once the nodes have gone quiet (piece announcements after an upload cost CPU).
    if (report !== null) await fetch(`${report}/go`)
    const t1 = performance.now()
    let bytes = 0
    let ttfbMs = 0
    const down = await measured(async () => {
      const { stream } = await client.get(name)
      for await (const chunk of stream) {
        if (bytes === 0) ttfbMs = performance.now() - t1
        bytes += chunk.byteLength
      }
    })
    const downloadMs = performance.now() - t1
    say(
      `download ${run}: ${((bytes / downloadMs) * 1e-3).toFixed(1)} MB/s, heap peak ${down.peakHeapMB} MB, longest task ${down.longestTaskMs} ms, blocked ${down.blockingMs} ms`
    )
    results.push({
      run,
      uploadMs,
      downloadMs,
      ttfbMs,
      bytes,
      uploadHeapMB: up.peakHeapMB,
      downloadHeapMB: down.peakHeapMB,
      uploadLongestTaskMs: up.longestTaskMs,
      uploadBlockingMs: up.blockingMs,
      downloadLongestTaskMs: down.longestTaskMs,
      downloadBlockingMs: down.blockingMs
    })
  }
  await send({
    ok: true,
    size,
    codec,
    userAgent: navigator.userAgent,
    session: client.session(),
    names: results.map((r) => `bench-${r.run}.bin`),
    results
  })
  await client.stop()
}

main().catch(async (err: unknown) => {
  say(`failed: ${String(err)}`)
  await send({ ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) })
})
