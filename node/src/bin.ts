import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { describeError, ErrorCode, isShoalError, parseBytes } from '@shoal/core'
import pino, { type DestinationStream, type LevelWithSilent, type Logger } from 'pino'
import { DEFAULT_CAPACITY, DEFAULT_LISTEN, NODE_VERSION } from './constants.ts'
import { createNode, type NodeInit, type ShoalNode } from './shoal-node.ts'

const USAGE = `usage: shoal-node start --data DIR --tracker URL [options]

Runs a Shoal storage node: stores pieces under grants signed by the tracker and serves them over libp2p.

  --data DIR                 identity, pieces and index (env SHOAL_NODE_DATA)
  --tracker URL              tracker base URL, e.g. http://127.0.0.1:7070 (env SHOAL_TRACKER)
  --listen MULTIADDR         listen address; repeatable (default ${DEFAULT_LISTEN.join(' and ')})
  --bootstrap MULTIADDR      peer to dial at start (with /p2p/<id>); repeatable
  --capacity SIZE            bytes of pieces to store, e.g. 500GB (default 10GiB)
  --egress-limit RATE        upload rate cap for all downloads together, e.g. 20MB/s (default unlimited)
  --heartbeat-interval TIME  e.g. 10s (default: what the tracker asks for)
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
}

function readConfig(argv: string[], env: NodeJS.ProcessEnv): Config | 'help' | 'version' {
  let parsed: ReturnType<typeof parse>
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        data: { type: 'string' },
        tracker: { type: 'string' },
        listen: { type: 'string', multiple: true },
        bootstrap: { type: 'string', multiple: true },
        capacity: { type: 'string' },
        'egress-limit': { type: 'string' },
        'heartbeat-interval': { type: 'string' },
        'log-level': { type: 'string' },
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
  const { values, positionals } = parsed
  if (values.help === true) return 'help'
  if (values.version === true) return 'version'
  if (positionals.length !== 1 || positionals[0] !== 'start') {
    throw new UsageError(
      positionals.length === 0 ? 'missing command: start' : `unknown command "${positionals.join(' ')}"`
    )
  }

  const dataDir = values.data ?? env.SHOAL_NODE_DATA
  if (dataDir === undefined || dataDir === '') throw new UsageError('missing --data DIR (or SHOAL_NODE_DATA)')
  const trackerUrl = values.tracker ?? env.SHOAL_TRACKER
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
  for (const addr of [...listen, ...(values.bootstrap ?? [])]) {
    try {
      multiaddr(addr)
    } catch {
      throw new UsageError(`"${addr}" is not a multiaddr`)
    }
  }
  const logLevel = values['log-level'] ?? env.SHOAL_LOG_LEVEL ?? 'info'
  if (!LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`)

  const init: Config['init'] = {
    dataDir,
    trackerUrl,
    listen,
    capacity: values.capacity === undefined ? DEFAULT_CAPACITY : parseSize(values.capacity, '--capacity'),
    egressLimit: values['egress-limit'] === undefined ? 0 : parseSize(values['egress-limit'], '--egress-limit')
  }
  if (values.bootstrap !== undefined) init.bootstrap = values.bootstrap
  if (values['heartbeat-interval'] !== undefined) {
    init.heartbeatIntervalMs = parseDuration(values['heartbeat-interval'], '--heartbeat-interval')
  }
  return { init, logLevel: logLevel as LevelWithSilent }
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

  const logger = createLogger(config.logLevel)
  const shutdown = new AbortController()
  let node: ShoalNode | undefined
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
  logger.info(
    { peerId: node.peerId.toString(), addrs: node.multiaddrs.map((ma) => ma.toString()), dataDir: node.dataDir },
    'ready'
  )
  // Serve until a signal arrives.
  await new Promise<void>((resolve) => shutdown.signal.addEventListener('abort', () => resolve(), { once: true }))
  return (await stopping) ?? 0
}

// Exit explicitly: a lingering keep-alive socket or timer must not keep a stopped node alive.
process.exit(await main())
