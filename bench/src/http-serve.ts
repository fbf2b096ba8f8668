/**
 * The single-server baseline of the hosts part as a process, so it can run on a simulated host (inside its
 * network namespace, where the kernel caps its upload). argv[2] is JSON:
 * {"file":F,"size":N,"host":ADDR,"rate":R?,"start":S?}. Serves the N bytes of F from offset S (default 0) on ADDR
 * (a free port) to every request, paced at R bytes/s when given (loopback, where no kernel cap exists), prints
 * {"msg":"ready","port":P} and runs until SIGTERM.
 */
import { createReadStream } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream/promises'
import { serveCapped } from './baselines.ts'

const job = JSON.parse(process.argv[2] ?? '{}') as {
  file: string
  size: number
  host: string
  rate?: number
  start?: number
}
const start = job.start ?? 0
async function serve(res: ServerResponse): Promise<void> {
  if (job.rate !== undefined) return serveCapped(res, { path: job.file, size: job.size, start }, job.rate)
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(job.size) })
  await pipeline(createReadStream(job.file, { highWaterMark: 256 * 1024, start, end: start + job.size - 1 }), res)
}

const server = createServer((_req, res) => {
  serve(res).catch(() => res.destroy())
})
server.listen(0, job.host, () => {
  process.stdout.write(`${JSON.stringify({ msg: 'ready', port: (server.address() as AddressInfo).port })}\n`)
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
