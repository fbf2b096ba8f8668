import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { createServer as createHttpServer, type ServerResponse } from 'node:http'
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestFile } from './files.ts'
import { KiB, MiB, mbps, median, round } from './stats.ts'

export interface BaselineResult {
  id: string
  what: string
  bytes: number
  /** MB/s per run. */
  samples: number[]
  median: number
  /** HTTP: whether every run's bytes matched the file. */
  match?: boolean
}

/** Both ends of one loopback TCP connection in this process: the machine's ceiling for moving bytes at all. */
export async function rawTcp(bytes: number, runs: number, timeoutMs = 60_000): Promise<BaselineResult> {
  const block = new Uint8Array(MiB)
  const server = createTcpServer((socket: Socket) => {
    let sent = 0
    const pump = (): void => {
      while (sent < bytes) {
        const n = Math.min(block.byteLength, bytes - sent)
        sent += n
        if (!socket.write(n === block.byteLength ? block : block.subarray(0, n))) {
          socket.once('drain', pump)
          return
        }
      }
      socket.end()
    }
    socket.on('error', () => {})
    pump()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const samples: number[] = []
  try {
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now()
      const received = await new Promise<number>((resolve, reject) => {
        let got = 0
        const socket = connect(port, '127.0.0.1')
        const timer = setTimeout(() => socket.destroy(new Error('raw TCP baseline timed out')), timeoutMs)
        socket.on('data', (chunk: Buffer) => {
          got += chunk.byteLength
        })
        socket.once('end', () => {
          clearTimeout(timer)
          resolve(got)
        })
        socket.once('error', (err) => {
          clearTimeout(timer)
          reject(err)
        })
      })
      if (received !== bytes) throw new Error(`raw TCP baseline received ${received} of ${bytes} bytes`)
      samples.push(round(mbps(bytes, performance.now() - t0)))
    }
  } finally {
    server.close()
  }
  return {
    id: 'raw-tcp',
    what: 'node:net, one loopback connection, both ends in one process',
    bytes,
    samples,
    median: round(median(samples))
  }
}

/**
 * Paces writes to `rate` bytes/s (GCRA, the same model as the node's egress bucket): each chunk is booked after
 * the bytes before it and waits for its slot, less a burst allowance of one chunk.
 */
class Pacer {
  readonly #msPerByte: number
  readonly #burstMs: number
  #drainedAt = 0

  constructor(rate: number, burst: number) {
    this.#msPerByte = 1000 / rate
    this.#burstMs = burst * this.#msPerByte
  }

  async take(bytes: number): Promise<void> {
    const now = performance.now()
    this.#drainedAt = Math.max(this.#drainedAt, now) + bytes * this.#msPerByte
    const wait = this.#drainedAt - this.#burstMs - now
    if (wait > 0) await sleep(wait)
  }
}

/** Sends the file paced at `rate` bytes/s (the loopback stand-in for a kernel cap). */
export async function serveCapped(
  res: ServerResponse,
  file: Pick<TestFile, 'path' | 'size'> & { start?: number },
  rate: number
): Promise<void> {
  const chunkSize = 64 * KiB
  const pacer = new Pacer(rate, chunkSize)
  const start = file.start ?? 0
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(file.size) })
  const body = createReadStream(file.path, { highWaterMark: chunkSize, start, end: start + file.size - 1 })
  for await (const chunk of body) {
    if (res.destroyed) return
    await pacer.take((chunk as Buffer).byteLength)
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve))
  }
  res.end()
}

/** Downloads a URL with fetch, hashing as it goes: bytes, sha256 (hex) and ms from the request to the last byte. */
export async function fetchHashed(
  url: string,
  timeoutMs: number
): Promise<{ bytes: number; sha256: string; ms: number }> {
  const t0 = performance.now()
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  if (!response.ok || response.body === null) throw new Error(`HTTP baseline: status ${response.status}`)
  const hash = createHash('sha256')
  let bytes = 0
  const reader = response.body.getReader()
  for (let part = await reader.read(); part.done !== true; part = await reader.read()) {
    hash.update(part.value)
    bytes += part.value.byteLength
  }
  return { bytes, sha256: hash.digest('hex'), ms: performance.now() - t0 }
}

/**
 * "The single-server speed limit": one plain node:http server sending the file at `rate` (a token bucket on its
 * writes), downloaded with fetch and hashed.
 */
export async function cappedHttp(
  file: TestFile,
  rate: number,
  runs: number,
  timeoutMs: number
): Promise<BaselineResult> {
  const server = createHttpServer((_req, res) => {
    serveCapped(res, file, rate).catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const samples: number[] = []
  let match = true
  try {
    for (let r = 0; r < runs; r++) {
      const got = await fetchHashed(`http://127.0.0.1:${port}/file`, timeoutMs)
      if (got.bytes !== file.size || got.sha256 !== file.sha256) match = false
      samples.push(round(mbps(got.bytes, got.ms), 2))
    }
  } finally {
    server.closeAllConnections()
    server.close()
  }
  return {
    id: 'http-single-server',
    what: `one node:http server capped at ${rate / 1e6} MB/s, downloaded by fetch`,
    bytes: file.size,
    samples,
    median: round(median(samples), 2),
    match
  }
}
