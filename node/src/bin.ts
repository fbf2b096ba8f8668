import { readFileSync } from 'node:fs'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { describeError, ErrorCode, isShoalError, parseBytes, signToken } from '@shoal/core'
import pino, { type DestinationStream, type LevelWithSilent, type Logger } from 'pino'
import { DEFAULT_CAPACITY, DEFAULT_LISTEN, NODE_VERSION } from './constants.ts'
import { fetchEarnings } from './earnings.ts'
import { IDENTITY_FILE, loadOrCreateIdentity, peerIdOf } from './identity.ts'
import { formatStatus } from './operator/format-status.ts'
import { DASHBOARD_URL_FILE, OperatorServer, parseListen } from './operator/operator-server.ts'
import type { NodeStatusView } from './operator/status.ts'
import { createNode, type NodeInit, type ShoalNode } from './shoal-node.ts'

const USAGE = `usage: shoal-node start --data DIR --tracker URL [options]
       shoal-node status --data DIR [--json]
       shoal-node exit --data DIR --tracker URL

Runs a Shoal storage node: stores pieces under grants signed by the tracker and serves them over libp2p.
"status" prints what a running node stores, serves and earns, and how the tracker rates it.
"exit" leaves the network gracefully: the tracker moves every piece to other nodes (keep the node running)
and this command waits until none is left; then stop the node.

  --config FILE              JSON file with any of the options below (keys as the flags: "tracker",
                             "capacity", "egress-limit", "listen": [...], ...); flags and env override it
  --data DIR                 identity, pieces and index (env SHOAL_NODE_DATA)
  --tracker URL              tracker base URL, e.g. http://127.0.0.1:7070 (env SHOAL_TRACKER)
  --listen MULTIADDR         listen address; repeatable (default ${DEFAULT_LISTEN.join(' and ')})
  --announce MULTIADDR       address to advertise instead of the listen addresses, e.g. your router's public
                             address and forwarded port /ip4/203.0.113.7/tcp/4001; repeatable. The tracker
                             dials the node back there before it admits it (docs/deploy.md)
  --tls-cert FILE            PEM certificate chain for secure WebSockets (browsers on HTTPS pages dial only
                             wss): listen on /ip4/0.0.0.0/tcp/443/tls/ws and announce it under the
                             certificate's name, /dns4/node.example.org/tcp/443/tls/ws; reloaded when it changes
  --tls-key FILE             its PEM private key
  --bootstrap MULTIADDR      peer to dial at start (with /p2p/<id>); repeatable
  --capacity SIZE            bytes of pieces to store, e.g. 500GB (default 10GiB)
  --egress-limit RATE        upload rate cap for all downloads together, e.g. 20MB/s (default unlimited)
  --heartbeat-interval TIME  e.g. 10s (default: what the tracker asks for)
  --retain-interval TIME     how often to ask the tracker which pieces to keep and drop the rest (default 6h)
  --dashboard HOST:PORT      the operator's page, /status.json and /metrics, on loopback only (default
                             127.0.0.1:0, a free port, written to DIR/dashboard.url); "off" to disable
  --metrics HOST:PORT        /metrics, /healthz and /readyz (no dashboard) on any address, for Prometheus and
                             supervisors on other hosts, e.g. 0.0.0.0:9464 (default: off; the dashboard
                             serves them on loopback too)
  --log-level LEVEL          fatal, error, warn, info, debug, trace or silent (default info; env SHOAL_LOG_LEVEL)
  -h, --help                 this text
  --version                  print the version`

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

class UsageError extends Error {}

function parseDuration(text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text)
  if (match === null) throw new UsageError(`${flag}: cannot read "${text}" as a duration (use e.g. 500ms, 10s, 2m)`)
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']
  const ms = Math.round(Number(match[1]) * factor)
  if (ms <= 0) throw new UsageError(`${flag} must be positive`)
  return ms
}

function parseSize(text: string, flag: string): number {
  try {
    return parseBytes(text)
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`)
  }
}

interface Config {
  init: Omit<NodeInit, 'logger' | 'signal'>
  logLevel: LevelWithSilent
  /** Dashboard listen address, or undefined for none. */
  dashboard: string | undefined
  /** Metrics-and-probes listen address, or undefined for none. */
  metrics: string | undefined
}

const FILE_KEYS = [
  'data',
  'tracker',
  'listen',
  'announce',
  'bootstrap',
  'capacity',
  'egress-limit',
  'heartbeat-interval',
  'log-level',
  'dashboard',
  'metrics',
  'tls-cert',
  'tls-key',
  'retain-interval'
] as const
type FileConfig = Partial<Record<(typeof FILE_KEYS)[number], string | string[]>>

/** A JSON config file: the flags' names as keys, strings as values (lists for listen and bootstrap). */
function readConfigFile(path: string): FileConfig {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`--config ${path}: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`--config ${path}: must be a JSON object`)
  }
  const out: FileConfig = {}
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!(FILE_KEYS as readonly string[]).includes(key)) {
      throw new UsageError(`--config ${path}: unknown option "${key}" (known: ${FILE_KEYS.join(', ')})`)
    }
    const list = key === 'listen' || key === 'announce' || key === 'bootstrap'
    const ok = list ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === 'string'
    if (!ok) throw new UsageError(`--config ${path}: "${key}" must be ${list ? 'a list of strings' : 'a string'}`)
    out[key as keyof FileConfig] = v as string | string[]
  }
  return out
}

function readConfig(
  argv: string[],
  env: NodeJS.ProcessEnv
): Config | 'help' | 'version' | { status: string; json: boolean } | { exit: string; tracker: string } {
  let parsed: ReturnType<typeof parse>
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        data: { type: 'string' },
        tracker: { type: 'string' },
        listen: { type: 'string', multiple: true },
        announce: { type: 'string', multiple: true },
        bootstrap: { type: 'string', multiple: true },
        capacity: { type: 'string' },
        'egress-limit': { type: 'string' },
        'heartbeat-interval': { type: 'string' },
        'log-level': { type: 'string' },
        config: { type: 'string' },
        dashboard: { type: 'string' },
        metrics: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'retain-interval': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' }
      }
    })
  }
  try {
    parsed = parse()
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values: flags, positionals } = parsed
  if (flags.help === true) return 'help'
  if (flags.version === true) return 'version'
  if (positionals.length === 1 && positionals[0] === 'exit') {
    const dir = flags.data ?? env.SHOAL_NODE_DATA
    const tracker = flags.tracker ?? env.SHOAL_TRACKER
    if (dir === undefined || dir === '' || tracker === undefined || tracker === '') {
      throw new UsageError('exit needs --data DIR and --tracker URL')
    }
    return { exit: dir, tracker }
  }
  if (positionals.length === 1 && positionals[0] === 'status') {
    const dir = flags.data ?? env.SHOAL_NODE_DATA
    if (dir === undefined || dir === '') throw new UsageError('status needs --data DIR (or SHOAL_NODE_DATA)')
    return { status: dir, json: flags.json === true }
  }
  if (positionals.length !== 1 || positionals[0] !== 'start') {
    throw new UsageError(
      positionals.length === 0 ? 'missing command: start or status' : `unknown command "${positionals.join(' ')}"`
    )
  }
  // Flags over the config file; the environment comes between them below.
  const file = flags.config === undefined ? {} : readConfigFile(flags.config)
  const str = (v: string | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined)
  // An empty variable is an unset one (the config file still applies).
  const set = (v: string | undefined): string | undefined => (v === '' ? undefined : v)
  const values = {
    data: flags.data,
    tracker: flags.tracker,
    listen: flags.listen ?? (file.listen as string[] | undefined),
    announce: flags.announce ?? (file.announce as string[] | undefined),
    bootstrap: flags.bootstrap ?? (file.bootstrap as string[] | undefined),
    capacity: flags.capacity ?? str(file.capacity),
    'egress-limit': flags['egress-limit'] ?? str(file['egress-limit']),
    'heartbeat-interval': flags['heartbeat-interval'] ?? str(file['heartbeat-interval']),
    'log-level': flags['log-level'],
    dashboard: flags.dashboard ?? str(file.dashboard),
    metrics: flags.metrics ?? str(file.metrics),
    'tls-cert': flags['tls-cert'] ?? str(file['tls-cert']),
    'tls-key': flags['tls-key'] ?? str(file['tls-key']),
    'retain-interval': flags['retain-interval'] ?? str(file['retain-interval'])
  }

  const dataDir = values.data ?? set(env.SHOAL_NODE_DATA) ?? str(file.data)
  if (dataDir === undefined || dataDir === '') throw new UsageError('missing --data DIR (or SHOAL_NODE_DATA)')
  const trackerUrl = values.tracker ?? set(env.SHOAL_TRACKER) ?? str(file.tracker)
  if (trackerUrl === undefined || trackerUrl === '') throw new UsageError('missing --tracker URL (or SHOAL_TRACKER)')
  let url: URL
  try {
    url = new URL(trackerUrl)
  } catch {
    throw new UsageError(`--tracker: "${trackerUrl}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--tracker: "${trackerUrl}" must be an http or https URL`)
  }
  const listen = values.listen ?? DEFAULT_LISTEN
  for (const addr of [...listen, ...(values.announce ?? []), ...(values.bootstrap ?? [])]) {
    try {
      multiaddr(addr)
    } catch {
      throw new UsageError(`"${addr}" is not a multiaddr`)
    }
  }
  const logLevel = values['log-level'] ?? set(env.SHOAL_LOG_LEVEL) ?? str(file['log-level']) ?? 'info'
  if (!LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`)

  const init: Config['init'] = {
    dataDir,
    trackerUrl,
    listen,
    capacity: values.capacity === undefined ? DEFAULT_CAPACITY : parseSize(values.capacity, '--capacity'),
    egressLimit: values['egress-limit'] === undefined ? 0 : parseSize(values['egress-limit'], '--egress-limit')
  }
  if (values.bootstrap !== undefined) init.bootstrap = values.bootstrap
  const tlsCert = values['tls-cert']
  const tlsKey = values['tls-key']
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together')
  if (tlsCert !== undefined && tlsKey !== undefined) {
    if (!listen.some((a) => /\/(tls\/ws|wss)(\/|$)/.test(a))) {
      throw new UsageError(
        '--tls-cert needs a secure WebSockets listen address, e.g. --listen /ip4/0.0.0.0/tcp/443/tls/ws'
      )
    }
    init.tls = { cert: tlsCert, key: tlsKey }
  }
  if (values.announce !== undefined) {
    for (const addr of values.announce) {
      if (/\/p2p\//.test(addr)) throw new UsageError(`--announce ${addr}: leave out /p2p/<id>, the node adds its own`)
    }
    init.announce = values.announce
  }
  if (values['heartbeat-interval'] !== undefined) {
    init.heartbeatIntervalMs = parseDuration(values['heartbeat-interval'], '--heartbeat-interval')
  }
  if (values['retain-interval'] !== undefined) {
    init.retainIntervalMs = parseDuration(values['retain-interval'], '--retain-interval')
  }
  const dashboard = values.dashboard === 'off' ? undefined : (values.dashboard ?? '127.0.0.1:0')
  if (dashboard !== undefined) {
    try {
      parseListen(dashboard)
    } catch (err) {
      throw new UsageError(`--dashboard: ${(err as Error).message}`)
    }
  }
  const metrics = values.metrics === 'off' ? undefined : values.metrics
  if (metrics !== undefined) {
    try {
      parseListen(metrics, false)
    } catch (err) {
      throw new UsageError(`--metrics: ${(err as Error).message}`)
    }
  }
  return { init, logLevel: logLevel as LevelWithSilent, dashboard, metrics }
}

/** For a person at a terminal: `12:00:01.234 INFO  ready peerId=...` instead of JSON. */
function humanDestination(): DestinationStream {
  const names: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' }
  const skip = new Set(['level', 'time', 'msg', 'pid', 'hostname'])
  return {
    write(line: string): void {
      let entry: Record<string, unknown>
      try {
        entry = JSON.parse(line) as Record<string, unknown>
      } catch {
        process.stdout.write(line)
        return
      }
      const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now()).toISOString().slice(11, 23)
      const fields = Object.entries(entry)
        .filter(([key]) => !skip.has(key))
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      process.stdout.write(
        `${time} ${names[entry.level as number] ?? String(entry.level)} ${String(entry.msg ?? '')} ${fields.join(' ')}\n`
      )
    }
  }
}

function createLogger(level: LevelWithSilent): Logger {
  const options = { level, base: { pid: process.pid } }
  // JSON lines whenever stdout is not a terminal: the testnet helper and log shippers parse them.
  return process.stdout.isTTY === true
    ? pino(options, humanDestination())
    : pino(options, pino.destination({ dest: 1, sync: true }))
}

async function main(): Promise<number> {
  let config: ReturnType<typeof readConfig>
  try {
    config = readConfig(process.argv.slice(2), process.env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`shoal-node: ${err.message} (see shoal-node --help)\n`)
    return 2
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (config === 'version') {
    process.stdout.write(`${NODE_VERSION}\n`)
    return 0
  }
  if ('status' in config) return printStatus(config.status, config.json)
  if ('exit' in config) return gracefulExit(config.exit, config.tracker)

  const logger = createLogger(config.logLevel)
  const shutdown = new AbortController()
  let node: ShoalNode | undefined
  let dashboard: OperatorServer | undefined
  let probes: OperatorServer | undefined
  let stopping: Promise<number> | undefined
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping !== undefined) {
      logger.warn({ signal }, 'second signal: exiting without a clean shutdown')
      process.exit(1)
    }
    logger.info({ signal }, 'shutting down')
    shutdown.abort()
    stopping = (async () => {
      try {
        await dashboard?.stop()
        await probes?.stop()
        await node?.stop()
        return 0
      } catch (err) {
        logger.error({ err: describeError(err) }, 'shutdown failed')
        return 1
      }
    })()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  try {
    node = await createNode({ ...config.init, logger, signal: shutdown.signal })
    await node.start()
  } catch (err) {
    if (shutdown.signal.aborted) return (await stopping) ?? 0
    const message = describeError(err)
    logger.fatal({ code: isShoalError(err) ? err.code : ErrorCode.INTERNAL, err: message }, 'could not start')
    process.stderr.write(`shoal-node: could not start: ${message}\n`)
    return 1
  }
  if (stopping !== undefined) return await stopping
  let dashboardUrl: string | undefined
  if (config.dashboard !== undefined) {
    const operator: OperatorServer = new OperatorServer({
      node,
      trackerUrl: config.init.trackerUrl,
      // This month's earnings as the tracker's payout statement will state them (node/src/earnings.ts).
      earnings: () => fetchEarnings(config.init.trackerUrl as string, node.peerId.toString()),
      listen: config.dashboard,
      logger: logger.child({ component: 'dashboard' })
    })
    try {
      dashboardUrl = await operator.start()
      dashboard = operator
    } catch (err) {
      logger.warn({ err: describeError(err) }, 'dashboard could not start; the node runs without it')
    }
  }
  let metricsUrl: string | undefined
  if (config.metrics !== undefined) {
    const server = new OperatorServer({
      node,
      trackerUrl: config.init.trackerUrl,
      listen: config.metrics,
      probesOnly: true,
      logger: logger.child({ component: 'metrics' })
    })
    try {
      metricsUrl = await server.start()
      probes = server
    } catch (err) {
      // Asked for by the operator (a supervisor or Prometheus relies on it): not started is not running.
      logger.fatal({ err: describeError(err) }, 'could not start')
      process.stderr.write(`shoal-node: could not start: --metrics ${config.metrics}: ${describeError(err)}\n`)
      await dashboard?.stop()
      await node.stop()
      return 1
    }
  }
  logger.info(
    {
      peerId: node.peerId.toString(),
      addrs: node.multiaddrs.map((ma) => ma.toString()),
      dataDir: node.dataDir,
      ...(dashboardUrl === undefined ? {} : { dashboard: dashboardUrl }),
      ...(metricsUrl === undefined ? {} : { metrics: metricsUrl })
    },
    'ready'
  )
  // Serve until a signal arrives.
  await new Promise<void>((resolve) => shutdown.signal.addEventListener('abort', () => resolve(), { once: true }))
  return (await stopping) ?? 0
}

/**
 * `shoal-node exit`: signs an exit request with the node's identity, then reports how many of its pieces the
 * tracker still has to move, until none is left.
 */
async function gracefulExit(dataDir: string, tracker: string): Promise<number> {
  let key: Awaited<ReturnType<typeof loadOrCreateIdentity>>
  try {
    await access(join(dataDir, IDENTITY_FILE))
    key = await loadOrCreateIdentity(dataDir)
  } catch (err) {
    process.stderr.write(`shoal-node: no node identity in ${dataDir}: ${describeError(err)}\n`)
    return 1
  }
  const node = peerIdOf(key)
  let last = -1
  for (;;) {
    let status: { remaining: number; since: number }
    try {
      const token = await signToken(key, { v: 1, kind: 'exit', node, at: Date.now() })
      const response = await fetch(new URL('/v1/nodes/exit', tracker), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
        signal: AbortSignal.timeout(60_000)
      })
      const body = (await response.json()) as { remaining: number; since: number; error?: { message: string } }
      if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`)
      status = body
    } catch (err) {
      process.stderr.write(`shoal-node: exit request failed: ${describeError(err)}\n`)
      return 1
    }
    if (status.remaining !== last) {
      process.stdout.write(
        `${node}: leaving since ${new Date(status.since).toISOString()}, ${status.remaining} pieces left to move\n`
      )
      last = status.remaining
    }
    if (status.remaining === 0) {
      process.stdout.write('every piece has moved: the node can be stopped\n')
      return 0
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000))
  }
}

/** `shoal-node status`: asks the running node's dashboard for its status and prints it for a person. */
async function printStatus(dataDir: string, json: boolean): Promise<number> {
  let url: string
  try {
    url = (await readFile(join(dataDir, DASHBOARD_URL_FILE), 'utf8')).trim()
  } catch {
    process.stderr.write(
      `shoal-node: no running node with a dashboard in ${dataDir} (start it, without --dashboard off)\n`
    )
    return 1
  }
  let status: NodeStatusView
  try {
    const response = await fetch(new URL('status.json', url), { signal: AbortSignal.timeout(10_000) })
    status = (await response.json()) as NodeStatusView
  } catch (err) {
    process.stderr.write(`shoal-node: the node in ${dataDir} does not answer at ${url}: ${describeError(err)}\n`)
    return 1
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
    return 0
  }
  process.stdout.write(`${formatStatus(status, url)}\n`)
  return 0
}

// Exit explicitly: a lingering keep-alive socket or timer must not keep a stopped node alive.
process.exit(await main())
