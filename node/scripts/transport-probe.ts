/**
 * Transport probe: how fast, and at what CPU cost, the piece protocols move bytes between two libp2p processes
 * on this machine, across yamux window sizes, write-slice sizes and stream parallelism. A measuring tool for
 * choosing node and client transport defaults (docs/transport-tuning.md); no test runs it.
 *
 * The node side is the node's own code (createNodeLibp2p, PieceStore, PieceService) in one process; the client
 * side is a plain libp2p peer in another that, like the client SDK, reads each piece of a get into one buffer
 * and sends a put through core's sendBounded. Both use the same yamux window, so a window row is what a node
 * and a client would both set. The slice is the sender's write size: the node's for gets, the client's for puts.
 *
 *   node_modules/.bin/node node/scripts/transport-probe.ts \
 *     [--directions get,put] [--size 256MiB] [--windows 256KiB,1MiB,4MiB,16MiB] [--slices 64KiB,256KiB,1MiB] \
 *     [--streams 1,4] [--repeat 3] [--json FILE] [--quiet 0.9]
 *   node_modules/.bin/node node/scripts/transport-probe.ts --profile DIR [--windows 4MiB --slices 256KiB ...]
 *     one run per configuration with V8's CPU profiler (as node --cpu-prof, but over the transfer only) on both
 *     sides; prints where the CPU time went, by component, and leaves the .cpuprofile files in DIR
 * Each run waits until the machine is at least --quiet idle (share of all cores, default 0.9; 0 = never wait).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import {
  ByteReader,
  encodeFrame,
  formatBytes,
  KiB,
  MiB,
  PROTOCOL_GET,
  PROTOCOL_PUT,
  parseBytes,
  parsePieceCid,
  pieceCid,
  REPAIR_ACCOUNT,
  randomBytes,
  readRequiredFrame,
  sendBounded,
  signGrant,
  slices,
  toBase64Url
} from '@shoal/core'
import { Level } from 'level'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { createNodeLibp2p } from '../src/libp2p.ts'
import { PieceService } from '../src/piece-service.ts'
import { PieceStore } from '../src/piece-store.ts'
import { UsedSerials } from '../src/used-serials.ts'

const SELF = fileURLToPath(import.meta.url)
/** Streams per get: the probe stores this many pieces and fetches all of them once per run. */
const PIECES = 4
/** Read buffer limit above the window: what a stream may hold beyond one window before libp2p resets it. */
const READ_SLACK = 2 * MiB

/** One line of JSON on stdout: how the probe's processes talk to each other. */
function emit(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

function lines(input: NodeJS.ReadableStream): AsyncIterableIterator<string> {
  return createInterface({ input })[Symbol.asyncIterator]()
}

function cpuSeconds(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6
}

/** CPU seconds per thread name of this process (Linux /proc): main thread, V8's GC helpers, libuv's pool. */
async function threadCpu(): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  try {
    const tick = 100 // USER_HZ on Linux
    for (const task of await readdir('/proc/self/task')) {
      const stat = await readFile(`/proc/self/task/${task}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const seconds = (Number(fields[11]) + Number(fields[12])) / tick
      out[name] = (out[name] ?? 0) + seconds
    }
  } catch {
    // Not Linux: no per-thread figures.
  }
  return out
}

function threadDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, s] of Object.entries(after)) {
    const d = s - (before[name] ?? 0)
    if (d >= 0.01) out[name] = Math.round(d * 100) / 100
  }
  return out
}

/**
 * V8's sampling CPU profiler (what `node --cpu-prof` runs), driven over the inspector so that it records the
 * transfer only, not start-up; the returned function stops it and writes a .cpuprofile file.
 */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 200 })
  await session.post('Profiler.start')
  return async (file) => {
    const { profile } = await session.post('Profiler.stop')
    session.disconnect()
    await writeFile(file, JSON.stringify(profile))
  }
}

// ---------------------------------------------------------------------------------------------------------
// serve: the node side

async function serve(args: {
  window: number
  slice: number
  pieceSize: number
  dir: string
  profile: string | undefined
}): Promise<void> {
  const privateKey = await generateKeyPair('Ed25519')
  const tracker = await generateKeyPair('Ed25519')
  const libp2p = await createNodeLibp2p({
    privateKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    streamWindowBytes: args.window,
    maxReadBufferBytes: args.window + READ_SLACK
  })
  const db = new Level<string, string>(join(args.dir, 'index'))
  await db.open()
  const logger = pino({ level: 'silent' })
  const store = new PieceStore({ dir: args.dir, db, capacity: 64 * 1024 * MiB, logger })
  await store.open()
  const pieces: string[] = []
  for (let i = 0; i < PIECES; i++) {
    const bytes = randomBytes(args.pieceSize)
    const cid = await pieceCid(bytes)
    await store.put(
      cid,
      bytes.byteLength,
      (async function* () {
        yield bytes
      })()
    )
    pieces.push(cid.toString())
  }
  const peerId = libp2p.peerId.toString()
  const service = new PieceService(
    { peerId, privateKey, trackerKey: tracker.publicKey, store, serials: new UsedSerials(db), logger },
    { readSliceBytes: args.slice, maxReadBufferBytes: args.window + READ_SLACK }
  )
  service.start()
  await libp2p.start()
  await libp2p.handle(PROTOCOL_GET, service.handleGet, { maxInboundStreams: 32 })
  await libp2p.handle(PROTOCOL_PUT, service.handlePut, { maxInboundStreams: 16 })
  emit({ ready: true, addrs: libp2p.getMultiaddrs().map(String) })

  let mark = process.cpuUsage()
  let stopProfile: ((file: string) => Promise<void>) | undefined
  let threadsAtMark: Record<string, number> = {}
  for await (const line of lines(process.stdin)) {
    const command = JSON.parse(line) as { cmd: string; kind?: 'get' | 'put'; pieces?: string[] }
    if (command.cmd === 'grants') {
      // Get grants for the stored pieces, or put grants for the pieces the client is about to send.
      const kind = command.kind ?? 'get'
      const now = Date.now()
      const grants = await Promise.all(
        (command.pieces ?? pieces).map(async (piece) => ({
          piece,
          size: args.pieceSize,
          grant: await signGrant(tracker, {
            v: 1,
            kind,
            piece,
            node: peerId,
            // Get grants name a receipt key, and the node then streams only as far as receipts come back (the
            // credit window), except for the network's own repair reads: the probe measures the transport
            // alone, so it reads as repair does.
            account: kind === 'get' ? REPAIR_ACCOUNT : 'probe',
            // A put grant names the upload its piece belongs to (pieces are held per object).
            ...(kind === 'put' ? { obj: 'probe-upload' } : {}),
            size: args.pieceSize,
            serial: toBase64Url(randomBytes(12)),
            iat: now,
            exp: now + 600_000
          })
        }))
      )
      emit({ grants })
    } else if (command.cmd === 'drop') {
      // Pieces a put run stored: gone again, so repeated runs do not fill the disk.
      for (const piece of command.pieces ?? []) await store.delete(parsePieceCid(piece))
      emit({ ok: true })
    } else if (command.cmd === 'mark') {
      if (args.profile !== undefined) stopProfile = await startProfile()
      threadsAtMark = await threadCpu()
      mark = process.cpuUsage()
      emit({ ok: true })
    } else if (command.cmd === 'cpu') {
      const cpu = cpuSeconds(process.cpuUsage(mark))
      const threads = threadDelta(threadsAtMark, await threadCpu())
      if (stopProfile !== undefined && args.profile !== undefined) await stopProfile(args.profile)
      stopProfile = undefined
      emit({ cpu, threads })
    } else if (command.cmd === 'stop') {
      break
    }
  }
  await service.stop()
  await libp2p.stop()
  await db.close()
}

// ---------------------------------------------------------------------------------------------------------
// fetch: the client side

interface FetchJob {
  direction: 'get' | 'put'
  window: number
  /** Write size of a put (the client's slices); gets are sliced by the node. */
  slice: number
  streams: number
  pieceSize: number
  /** Write a CPU profile of the transfer here. */
  profile?: string
  addrs: string[]
}

type PieceGrant = { piece: string; size: number; grant: string }

/** One piece into one buffer, as the client SDK's getPiece does (without the CID check: that is codec work). */
async function getPiece(client: Libp2p, job: FetchJob, piece: PieceGrant): Promise<number> {
  const stream = await client.dialProtocol(
    job.addrs.map((a) => multiaddr(a)),
    PROTOCOL_GET
  )
  const reader = new ByteReader(stream)
  await sendBounded(stream, [encodeFrame({ grant: piece.grant, piece: piece.piece })])
  await stream.close()
  const header = await readRequiredFrame(reader, 'response')
  if (header.ok !== true) throw new Error(`get refused: ${JSON.stringify(header)}`)
  const bytes = new Uint8Array(piece.size)
  let offset = 0
  for await (const chunk of reader.stream(piece.size)) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return offset
}

/** One piece sent the way the client SDK's putPiece sends it: bounded writes of `slice` bytes, then the receipt. */
async function putPiece(client: Libp2p, job: FetchJob, piece: PieceGrant, bytes: Uint8Array): Promise<number> {
  const stream = await client.dialProtocol(
    job.addrs.map((a) => multiaddr(a)),
    PROTOCOL_PUT
  )
  const reader = new ByteReader(stream)
  const header = encodeFrame({ grant: piece.grant, piece: piece.piece, size: bytes.byteLength })
  await sendBounded(stream, [header, ...slices(bytes, job.slice)])
  await stream.close()
  const answer = await readRequiredFrame(reader, 'response')
  if (answer.ok !== true) throw new Error(`put refused: ${JSON.stringify(answer)}`)
  return bytes.byteLength
}

async function fetchPieces(job: FetchJob): Promise<void> {
  const client = await createLibp2p({
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: job.window, initialStreamWindowSize: 256 * KiB } })],
    services: { identify: identify() }
  })
  await client.start()
  // Connect (and let identify finish) before the clock starts: the probe measures transfer, not set-up.
  await client.dial(job.addrs.map((a) => multiaddr(a)))
  // A put run sends fresh pieces (a stored piece would only be hashed, not written): made before the clock starts.
  const fresh = new Map<string, Uint8Array>()
  if (job.direction === 'put') {
    for (let i = 0; i < PIECES; i++) {
      const bytes = randomBytes(job.pieceSize)
      fresh.set((await pieceCid(bytes)).toString(), bytes)
    }
  }
  emit({ ready: true, pieces: [...fresh.keys()] })
  const input = lines(process.stdin)
  const go = await input.next()
  const { grants } = JSON.parse(String(go.value)) as { grants: PieceGrant[] }
  const move = (piece: PieceGrant): Promise<number> =>
    job.direction === 'put'
      ? putPiece(client, job, piece, fresh.get(piece.piece) as Uint8Array)
      : getPiece(client, job, piece)
  const stopProfile = job.profile === undefined ? undefined : await startProfile()
  const threadsBefore = await threadCpu()
  const cpu = process.cpuUsage()
  const started = performance.now()
  let bytes = 0
  if (job.streams === 1) {
    for (const piece of grants) {
      const got = await move(piece)
      bytes += got
    }
  } else {
    const queue = [...grants]
    await Promise.all(
      Array.from({ length: job.streams }, async () => {
        for (let piece = queue.shift(); piece !== undefined; piece = queue.shift()) {
          // Not `bytes += await ...`: that reads `bytes` before the await and loses the other streams' counts.
          const got = await move(piece)
          bytes += got
        }
      })
    )
  }
  const ms = performance.now() - started
  const expected = grants.reduce((sum, g) => sum + g.size, 0)
  if (bytes !== expected) throw new Error(`moved ${bytes} bytes, expected ${expected}`)
  const used = cpuSeconds(process.cpuUsage(cpu))
  const threads = threadDelta(threadsBefore, await threadCpu())
  if (stopProfile !== undefined && job.profile !== undefined) await stopProfile(job.profile)
  emit({ bytes, ms, cpu: used, threads })
  await client.stop()
  input.return?.()
  process.stdin.destroy()
}

// ---------------------------------------------------------------------------------------------------------
// run: the matrix

interface Child {
  process: ChildProcess
  next(): Promise<Record<string, unknown>>
  send(value: object): void
}

function child(role: string, args: string[]): Child {
  const proc = spawn(process.execPath, [SELF, role, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const out = lines(proc.stdout as NodeJS.ReadableStream)
  return {
    process: proc,
    async next() {
      const line = await out.next()
      if (line.done === true) throw new Error(`${role} ended early`)
      return JSON.parse(line.value) as Record<string, unknown>
    },
    send(value) {
      proc.stdin?.write(`${JSON.stringify(value)}\n`)
    }
  }
}

async function end(c: Child): Promise<void> {
  if (c.process.exitCode !== null || c.process.signalCode !== null) return
  c.process.stdin?.end()
  const timer = setTimeout(() => c.process.kill('SIGKILL'), 10_000)
  await once(c.process, 'exit')
  clearTimeout(timer)
}

interface Sample extends RunResult {
  direction: 'get' | 'put'
  window: number
  slice: number
  streams: number
}

/** Share of all cores idle over `ms`, from the kernel's counters. */
async function idleShare(ms: number): Promise<number> {
  const total = (c: ReturnType<typeof cpus>) =>
    c.reduce(
      (sum, cpu) => {
        const t = cpu.times
        return { idle: sum.idle + t.idle, all: sum.all + t.idle + t.user + t.nice + t.sys + t.irq }
      },
      { idle: 0, all: 0 }
    )
  const before = total(cpus())
  await new Promise((resolve) => setTimeout(resolve, ms))
  const after = total(cpus())
  return (after.idle - before.idle) / Math.max(1, after.all - before.all)
}

/**
 * The machine is shared: a run measures the transport only if nothing else is busy. Waits (up to `patienceMs`)
 * until the cores were at least `minIdle` idle for a second; returns the idle share seen last.
 */
async function waitForQuiet(minIdle: number, patienceMs: number): Promise<number> {
  const deadline = Date.now() + patienceMs
  let idle = await idleShare(1000)
  while (idle < minIdle && Date.now() < deadline) {
    process.stderr.write(`waiting for a quiet machine: ${(idle * 100).toFixed(0)}% idle\n`)
    await new Promise((resolve) => setTimeout(resolve, 5000))
    idle = await idleShare(1000)
  }
  return idle
}

/** CPU seconds all cores spent busy so far, from the kernel's counters. */
function machineBusy(): number {
  return cpus().reduce((sum, c) => sum + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0) / 1000
}

interface RunResult {
  mbps: number
  seconds: number
  clientCpu: number
  serverCpu: number
  idle: number
  /** CPU the rest of the machine used during the run, in cores: anything above ~0.1 disturbed it. */
  foreign: number
  /** CPU seconds by thread name, each side. */
  clientThreads: Record<string, number>
  nodeThreads: Record<string, number>
}

/** One configuration of a run. */
interface RunConfig {
  direction: 'get' | 'put'
  window: number
  slice: number
  streams: number
  pieceSize: number
  profile?: string
}

async function runOnce(server: Child, config: RunConfig): Promise<RunResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await runAttempt(server, config)
    // The machine is shared: a run during which something else took CPU is repeated (up to 5 times).
    if (quiet === undefined || result.foreign <= 0.15 || attempt >= 5) return result
    process.stderr.write(`run disturbed (${result.foreign.toFixed(2)} cores used elsewhere): again\n`)
  }
}

async function runAttempt(server: Child, config: RunConfig): Promise<RunResult> {
  const addrs = (await serverAddrs.get(server)) as string[]
  const job: FetchJob = { ...config, addrs }
  const fetcher = child('fetch', ['--job', JSON.stringify(job)])
  const { pieces } = (await fetcher.next()) as { pieces: string[] }
  server.send(config.direction === 'put' ? { cmd: 'grants', kind: 'put', pieces } : { cmd: 'grants', kind: 'get' })
  const { grants } = (await server.next()) as { grants: PieceGrant[] }
  const idle = quiet === undefined ? 1 : await waitForQuiet(quiet.minIdle, quiet.patienceMs)
  server.send({ cmd: 'mark' })
  await server.next()
  const busyBefore = machineBusy()
  fetcher.send({ grants })
  const result = (await fetcher.next()) as { bytes: number; ms: number; cpu: number; threads: Record<string, number> }
  const busy = machineBusy() - busyBefore
  server.send({ cmd: 'cpu' })
  const { cpu: serverCpu, threads: nodeThreads } = (await server.next()) as {
    cpu: number
    threads: Record<string, number>
  }
  await end(fetcher)
  if (config.direction === 'put') {
    server.send({ cmd: 'drop', pieces })
    await server.next()
  }
  const seconds = result.ms / 1000
  const foreign = Math.max(0, busy - result.cpu - serverCpu) / seconds
  return {
    mbps: result.bytes / 1e6 / seconds,
    seconds,
    clientCpu: result.cpu,
    serverCpu,
    idle,
    foreign,
    clientThreads: result.threads,
    nodeThreads
  }
}

/** Set by --quiet: wait for an idle machine before each run. */
let quiet: { minIdle: number; patienceMs: number } | undefined

const serverAddrs = new WeakMap<Child, Promise<string[]>>()

async function startServer(window: number, slice: number, pieceSize: number, profile?: string): Promise<Child> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-probe-'))
  const server = child('serve', [
    ...['--window', String(window), '--slice', String(slice), '--piece-size', String(pieceSize), '--dir', dir],
    ...(profile === undefined ? [] : ['--profile', profile])
  ])
  server.process.once('exit', () => {
    rm(dir, { recursive: true, force: true }).catch(() => undefined)
  })
  const ready = (await server.next()) as { addrs: string[] }
  serverAddrs.set(server, Promise.resolve(ready.addrs))
  return server
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

async function matrix(options: {
  size: number
  directions: ('get' | 'put')[]
  windows: number[]
  slices: number[]
  streams: number[]
  repeat: number
  json: string | undefined
}): Promise<void> {
  const pieceSize = Math.floor(options.size / PIECES)
  const samples: Sample[] = []
  console.log(
    '| direction | window | slice | streams | MB/s | client CPU (% of a core) | node CPU (% of a core) | ' +
      'client CPU s/GB | node CPU s/GB | others (cores) |'
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const direction of options.directions) {
    for (const window of options.windows) {
      for (const slice of options.slices) {
        const server = await startServer(window, slice, pieceSize)
        try {
          for (const streams of options.streams) {
            const runs: Sample[] = []
            for (let i = 0; i < options.repeat; i++) {
              const r = await runOnce(server, { direction, window, slice, streams, pieceSize })
              runs.push({ direction, window, slice, streams, ...r })
            }
            samples.push(...runs)
            const gb = (r: Sample) => (r.mbps * r.seconds) / 1000
            const cells = [
              median(runs.map((r) => r.mbps)).toFixed(0),
              median(runs.map((r) => (100 * r.clientCpu) / r.seconds)).toFixed(0),
              median(runs.map((r) => (100 * r.serverCpu) / r.seconds)).toFixed(0),
              median(runs.map((r) => r.clientCpu / gb(r))).toFixed(2),
              median(runs.map((r) => r.serverCpu / gb(r))).toFixed(2),
              Math.max(...runs.map((r) => r.foreign)).toFixed(2)
            ]
            console.log(
              `| ${direction} | ${formatBytes(window)} | ${formatBytes(slice)} | ${streams} | ${cells.join(' | ')} |`
            )
          }
        } finally {
          server.send({ cmd: 'stop' })
          await end(server)
        }
      }
    }
  }
  if (options.json !== undefined) {
    await writeFile(
      options.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpus: cpus().length,
          cpu: cpus()[0]?.model,
          size: options.size,
          repeat: options.repeat,
          samples
        },
        null,
        2
      )
    )
  }
}

// ---------------------------------------------------------------------------------------------------------
// profile: where the CPU time goes

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** The component a sample's own frame belongs to, judged by its script URL and function name. */
function component(frame: ProfileNode['callFrame']): string {
  const { url, functionName: fn } = frame
  if (fn === '(garbage collector)') return 'garbage collection'
  if (fn === '(idle)') return 'idle'
  if (fn === '(program)') return 'native, unattributed'
  if (url.includes('node:internal/crypto')) return 'ChaCha20-Poly1305 (node:crypto, incl. its native work)'
  if (url.includes('libp2p-noise')) return 'noise framing (JS around the cipher)'
  if (url.includes('libp2p-yamux')) return 'yamux (frames, windows)'
  if (url.includes('uint8arraylist')) return 'uint8arraylist (byte lists, copies)'
  if (url.includes('@libp2p/utils')) return 'libp2p stream buffers (@libp2p/utils)'
  if (/node_modules\/(it-|p-event|race-|main-event|p-defer|progress-events)/.test(url)) {
    return 'async plumbing (iterators, events, promises)'
  }
  if (url.includes('@libp2p/tcp') || url.includes('node:net') || url.includes('stream_base_commons'))
    return 'TCP socket'
  if (url === '' && /^(writeBuffer|writev|writeUtf8String|writeLatin1String|readStart|readStop)$/.test(fn)) {
    return 'TCP socket'
  }
  if (url.includes('node:internal/fs') || (url === '' && /^(read|open|close|fstat)$/.test(fn))) return 'disk (fs)'
  if (url.includes('node:internal/streams') || url.includes('buffer') || fn === 'concat')
    return 'Buffer and node streams'
  if (url.includes('/packages/core/') || url.includes('/node/src/') || url.includes('/node/scripts/')) {
    return 'Shoal code (byte reader, piece service, copy into the piece buffer)'
  }
  if (url.startsWith('node:')) return 'node internals (timers, microtasks, events)'
  if (url === '') return 'native, other'
  if (url.includes('node_modules')) return `other libraries (${url.split('node_modules/').at(-1)?.split('/')[0]})`
  return 'other'
}

async function summarize(file: string): Promise<string[]> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  const groups = new Map<string, number>()
  const functions = new Map<string, number>()
  let total = 0
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    const group = component(node.callFrame)
    // Idle time, and the profiler's own inspector call that ends the recording, are not the transfer's.
    if (group === 'idle' || (node.callFrame.functionName === 'post' && node.callFrame.url === 'node:inspector'))
      continue
    total += us
    groups.set(group, (groups.get(group) ?? 0) + us)
    const where = node.callFrame.url.split('node_modules/').at(-1)?.split('/').slice(0, 2).join('/') ?? ''
    const name = `${node.callFrame.functionName || '(anonymous)'} ${where}`.trim()
    functions.set(name, (functions.get(name) ?? 0) + us)
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`
  const out = [`busy ${(total / 1e6).toFixed(2)} s of samples`, '', '| component | share of busy time |', '|---|---|']
  for (const [group, us] of [...groups].sort((a, b) => b[1] - a[1])) out.push(`| ${group} | ${pct(us)} |`)
  out.push('', '| top functions (self time) | share |', '|---|---|')
  for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 15)) out.push(`| ${name} | ${pct(us)} |`)
  return out
}

async function profileRuns(options: {
  dir: string
  size: number
  directions: ('get' | 'put')[]
  windows: number[]
  slices: number[]
  streams: number[]
}): Promise<void> {
  const pieceSize = Math.floor(options.size / PIECES)
  await mkdir(options.dir, { recursive: true })
  for (const direction of options.directions) {
    for (const window of options.windows) {
      for (const slice of options.slices) {
        for (const streams of options.streams) {
          const label = `${direction}-w${formatBytes(window)}-s${formatBytes(slice)}-x${streams}`.replace(/[ .]/g, '')
          const clientFile = join(options.dir, `${label}-client.cpuprofile`)
          const nodeFile = join(options.dir, `${label}-node.cpuprofile`)
          const server = await startServer(window, slice, pieceSize, nodeFile)
          let result: RunResult
          try {
            result = await runOnce(server, { direction, window, slice, streams, pieceSize, profile: clientFile })
          } finally {
            server.send({ cmd: 'stop' })
            await end(server)
          }
          console.log(
            `\n## ${direction}, window ${formatBytes(window)}, slice ${formatBytes(slice)}, ${streams} stream(s): ` +
              `${result.mbps.toFixed(0)} MB/s, client ${((100 * result.clientCpu) / result.seconds).toFixed(0)}% ` +
              `node ${((100 * result.serverCpu) / result.seconds).toFixed(0)}% of a core, ` +
              `others ${result.foreign.toFixed(2)} cores`
          )
          console.log(
            `\nCPU seconds by thread: client ${JSON.stringify(result.clientThreads)}, node ${JSON.stringify(result.nodeThreads)}`
          )
          const receiving = direction === 'get' ? 'client' : 'node'
          for (const [side, file] of [
            ['client', clientFile],
            ['node', nodeFile]
          ] as const) {
            console.log(`\n### ${side} (${side === receiving ? 'receiving' : 'sending'}): ${file}\n`)
            console.log((await summarize(file)).join('\n'))
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

function sizes(text: string): number[] {
  return text.split(',').map((s) => parseBytes(s.trim()))
}

async function main(): Promise<void> {
  const role = process.argv[2]
  if (role === 'serve') {
    const { values } = parseArgs({
      args: process.argv.slice(3),
      options: {
        window: { type: 'string' },
        slice: { type: 'string' },
        'piece-size': { type: 'string' },
        dir: { type: 'string' },
        profile: { type: 'string' }
      }
    })
    await serve({
      window: Number(values.window),
      slice: Number(values.slice),
      pieceSize: Number(values['piece-size']),
      dir: String(values.dir),
      profile: values.profile
    })
    return
  }
  if (role === 'fetch') {
    const { values } = parseArgs({ args: process.argv.slice(3), options: { job: { type: 'string' } } })
    await fetchPieces(JSON.parse(String(values.job)) as FetchJob)
    return
  }
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      size: { type: 'string', default: '256MiB' },
      windows: { type: 'string', default: '256KiB,1MiB,4MiB,16MiB' },
      slices: { type: 'string', default: '64KiB,256KiB,1MiB' },
      streams: { type: 'string', default: '1,4' },
      repeat: { type: 'string', default: '3' },
      directions: { type: 'string', default: 'get' },
      json: { type: 'string' },
      profile: { type: 'string' },
      quiet: { type: 'string', default: '0.9' }
    }
  })
  const minIdle = Number(values.quiet)
  // Up to 10 minutes per run; --quiet 0 measures at once whatever else runs.
  if (minIdle > 0) quiet = { minIdle, patienceMs: 600_000 }
  const directions = String(values.directions)
    .split(',')
    .map((d) => d.trim())
  if (directions.some((d) => d !== 'get' && d !== 'put')) throw new TypeError('--directions takes get, put or both')
  const common = {
    directions: directions as ('get' | 'put')[],
    size: parseBytes(String(values.size)),
    windows: sizes(String(values.windows)),
    slices: sizes(String(values.slices)),
    streams: String(values.streams)
      .split(',')
      .map((s) => Number(s))
  }
  console.log(
    `# transport probe: ${formatBytes(common.size)} per run over ${PIECES} pieces, ${process.version}, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString()}\n`
  )
  if (values.profile !== undefined) {
    await profileRuns({ ...common, dir: values.profile })
    return
  }
  await matrix({ ...common, repeat: Number(values.repeat), json: values.json })
}

await main()
