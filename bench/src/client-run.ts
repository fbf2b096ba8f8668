/**
 * One transfer in a process of its own, so its CPU time and peak RSS are the client's and nobody else's. Reads a
 * ClientJob (protocol.ts) as the first line of stdin, uploads or downloads, prints progress lines and one result
 * line (JSON) on stdout, and exits: 0 when the transfer succeeded with the right bytes, 1 otherwise.
 *
 *   node bench/src/client-run.ts < job.json
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { ShoalClient, type ShoalClientInit } from '@shoal/client'
import type { ClientJob, ClientLine, ClientResult } from './protocol.ts'

const MB = 1e6

function print(line: ClientLine): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(line)}\n`, () => resolve()))
}

function describe(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown; name?: unknown }
  return {
    code: typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'ERROR',
    message: typeof e?.message === 'string' ? e.message : String(err)
  }
}

async function main(): Promise<number> {
  const lines = createInterface({ input: process.stdin })
  const iterator = lines[Symbol.asyncIterator]()
  const first = await iterator.next()
  if (first.done === true) throw new Error('client-run: no job on stdin')
  const job = JSON.parse(first.value) as ClientJob

  // A hard bound beside the transfer's own abort signal, in case something ignores the signal.
  setTimeout(() => {
    process.stderr.write(`client-run: no result after ${job.timeoutMs + 15_000} ms, exiting\n`)
    process.exit(3)
  }, job.timeoutMs + 15_000).unref()

  const log: string[] = []
  const marks: ClientResult['marks'] = []
  let bytes = 0
  let wireBytes: number | undefined
  let nextProgress = job.progressEvery > 0 ? job.progressEvery : Number.POSITIVE_INFINITY
  const t0 = performance.now()
  void (async () => {
    for (let line = await iterator.next(); line.done !== true; line = await iterator.next()) {
      marks.push({ text: line.value, bytes, atMs: performance.now() - t0 })
    }
  })()
  const progress = (done: number): void => {
    bytes = done
    if (done >= nextProgress) {
      while (nextProgress <= done) nextProgress += job.progressEvery
      void print({ type: 'progress', bytes: done, total: job.size })
    }
  }

  const init = {
    ...job.clientInit,
    log: (line: string) => {
      if (log.length < 200) log.push(line)
    }
  } as ShoalClientInit
  const client = await ShoalClient.resume(job.session, init)
  const signal = AbortSignal.timeout(job.timeoutMs)
  const startRss = process.memoryUsage().rss
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  let ttfbMs: number | undefined
  let openMs: number | undefined
  const events: Record<string, number> = {}
  const piecesByNode: Record<string, number> = {}
  let sha256: string | undefined
  let error: ClientResult['error']
  try {
    if (job.mode === 'upload') {
      if (job.file === undefined) throw new TypeError('upload job without a file')
      const source = createReadStream(job.file, { highWaterMark: MB })
      await client.put(job.name, source as AsyncIterable<Uint8Array>, job.size, {
        ...job.options,
        signal,
        onProgress: (p: { bytes: number; wireBytes?: number }) => {
          wireBytes = p.wireBytes
          progress(p.bytes)
        }
      })
      bytes = job.size
    } else {
      const hash = createHash('sha256')
      let done = 0
      const { stream } = await client.get(job.name, {
        ...job.options,
        signal,
        onProgress: (p: { wireBytes?: number }) => {
          wireBytes = p.wireBytes
        },
        onEvent: (e: { type: string; node?: string }) => {
          events[e.type] = (events[e.type] ?? 0) + 1
          if (e.type === 'piece' && e.node !== undefined) piecesByNode[e.node] = (piecesByNode[e.node] ?? 0) + 1
        }
      } as Parameters<ShoalClient['get']>[1])
      openMs = performance.now() - start
      for await (const chunk of stream) {
        if (ttfbMs === undefined) ttfbMs = performance.now() - start
        hash.update(chunk)
        done += chunk.byteLength
        progress(done)
      }
      sha256 = hash.digest('hex')
    }
  } catch (err) {
    error = describe(err)
  }
  const ms = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  // Only a download that finished can be compared; one that failed says so through `error`.
  const match = job.mode === 'download' && error === undefined ? sha256 === job.sha256 && bytes === job.size : undefined
  const result: ClientResult = {
    type: 'result',
    mode: job.mode,
    ok: error === undefined && match !== false,
    bytes,
    ms,
    ...(ttfbMs === undefined ? {} : { ttfbMs }),
    ...(openMs === undefined ? {} : { openMs }),
    ...(wireBytes === undefined ? {} : { wireBytes }),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    // maxRSS is in kilobytes (KiB) on Linux.
    peakRssMB: (process.resourceUsage().maxRSS * 1024) / MB,
    startRssMB: startRss / MB,
    ...(sha256 === undefined ? {} : { sha256 }),
    ...(match === undefined ? {} : { match }),
    marks,
    ...(Object.keys(events).length === 0 ? {} : { events, piecesByNode }),
    log,
    ...(error === undefined ? {} : { error })
  }
  await print(result)
  await Promise.race([client.stop(), new Promise((r) => setTimeout(r, 5_000).unref())])
  return result.ok ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`client-run: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(2)
  }
)
