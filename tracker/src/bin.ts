import { parseArgs } from 'node:util'
import { describeError, formatBytes, parseBytes } from '@shoal/core'
import pino, { type DestinationStream, type Level, type Logger } from 'pino'
import { parseDuration, resolveConfig, type TrackerInit } from './config.ts'
import { DEFAULTS } from './constants.ts'
import { AUTO_LAYOUTS } from './erasure-policy.ts'
import { createTracker, TRACKER_VERSION } from './tracker.ts'

const USAGE = `Usage: shoal-tracker start --data DIR [options]

Runs the Shoal tracker: accounts, storage-node registry, placement and grants over HTTP.

Options:
  --data DIR                 folder for the tracker key and database (env SHOAL_TRACKER_DATA)
  --port N                   TCP port, 0 for any free one (env SHOAL_TRACKER_PORT; default ${DEFAULTS.port})
  --host ADDR                address to listen on (default ${DEFAULTS.host})
  --k N --m N                fixed layout: N data and N parity pieces per segment for every upload (default:
                             chosen per upload from the nodes online, ${AUTO_LAYOUTS.map((l) => `${l.k}+${l.m} from ${l.minNodes}`).join(', ')})
  --segment-size SIZE        plaintext bytes per segment (default ${formatBytes(DEFAULTS.segmentSize)})
  --min-commit-pieces N      with --k/--m: receipts that commit a segment, the slowest pushes beyond it are
                             cancelled (default k + m; at least k + ceil(m / 2))
  --long-tail N              any layout: the slowest N pushes of a segment may be cancelled, at most
                             floor(m / 2) of each layout (default 0)
  --quota SIZE               quota of new accounts (default ${formatBytes(DEFAULTS.defaultQuota)})
  --heartbeat-interval TIME  how often nodes report; offline after 3 missed (default ${DEFAULTS.heartbeatIntervalMs / 1000}s)
  --log-level LEVEL          fatal, error, warn, info, debug or trace (env SHOAL_LOG_LEVEL; default info)
  -h, --help                 show this help
  -v, --version              show the version

Sizes take B, KB, MB, GB, KiB, MiB, GiB; times take ms, s, m, h, d.
Logs are JSON lines unless stdout is a terminal. Once listening, it logs {"msg":"ready","url":...}.
`

class UsageError extends Error {}

function integer(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not "${text}"`)
  }
  return Number(text)
}

function convert<T>(name: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text)
  } catch (err) {
    throw new UsageError(`--${name}: ${(err as Error).message}`)
  }
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

/** Flags over environment over defaults; everything is checked here so a bad value stops the start at once. */
function readConfig(
  argv: string[],
  env: NodeJS.ProcessEnv
): { init: Omit<TrackerInit, 'logger'>; level: Level } | 'help' | 'version' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      data: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      k: { type: 'string' },
      m: { type: 'string' },
      'segment-size': { type: 'string' },
      'min-commit-pieces': { type: 'string' },
      'long-tail': { type: 'string' },
      quota: { type: 'string' },
      'heartbeat-interval': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' }
    }
  })
  if (values.help === true) return 'help'
  if (values.version === true) return 'version'
  if (positionals.length !== 1 || positionals[0] !== 'start') {
    throw new UsageError(
      positionals.length === 0 ? 'missing command: start' : `unknown command "${positionals.join(' ')}"`
    )
  }
  const dataDir = values.data ?? env.SHOAL_TRACKER_DATA
  if (dataDir === undefined || dataDir.length === 0)
    throw new UsageError('--data DIR is required (or set SHOAL_TRACKER_DATA)')
  const port = values.port ?? env.SHOAL_TRACKER_PORT
  const level = values['log-level'] ?? env.SHOAL_LOG_LEVEL ?? 'info'
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`)
  const policy: NonNullable<TrackerInit['policy']> = {}
  if (values.k !== undefined) policy.k = integer('k', values.k, 2, 256)
  if (values.m !== undefined) policy.m = integer('m', values.m, 0, 254)
  if (values['min-commit-pieces'] !== undefined) {
    policy.minCommitPieces = integer('min-commit-pieces', values['min-commit-pieces'], 2, 256)
  }
  if (values['long-tail'] !== undefined) policy.longTail = integer('long-tail', values['long-tail'], 0, 127)
  if (values['segment-size'] !== undefined)
    policy.segmentSize = convert('segment-size', values['segment-size'], parseBytes)
  try {
    // The policy's rules (k and m together, the commit threshold's range) are usage errors too.
    resolveConfig({ dataDir, policy })
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\bminCommitPieces\b/, '--min-commit-pieces'))
  }
  const init: Omit<TrackerInit, 'logger'> = { dataDir, policy }
  if (port !== undefined) init.port = integer('port', port, 0, 65_535)
  if (values.host !== undefined) init.host = values.host
  if (values.quota !== undefined) init.defaultQuota = convert('quota', values.quota, parseBytes)
  if (values['heartbeat-interval'] !== undefined) {
    init.heartbeatIntervalMs = convert('heartbeat-interval', values['heartbeat-interval'], parseDuration)
  }
  return { init, level: level as Level }
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL'
}

/** One readable line per log record, for a person at a terminal. */
function prettyDestination(out: NodeJS.WriteStream): DestinationStream {
  return {
    write(line: string) {
      try {
        const { level, time, msg, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>
        const extra = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`
        const clock = new Date(Number(time)).toISOString().slice(11, 23)
        out.write(`${clock} ${(LEVEL_NAMES[Number(level)] ?? String(level)).padEnd(5)} ${String(msg ?? '')}${extra}\n`)
      } catch {
        out.write(line)
      }
    }
  }
}

async function main(): Promise<void> {
  let config: ReturnType<typeof readConfig>
  try {
    config = readConfig(process.argv.slice(2), process.env)
  } catch (err) {
    process.stderr.write(`shoal-tracker: ${(err as Error).message} (see shoal-tracker --help)\n`)
    process.exit(2)
  }
  if (config === 'help') {
    process.stdout.write(USAGE)
    return
  }
  if (config === 'version') {
    process.stdout.write(`${TRACKER_VERSION}\n`)
    return
  }
  const logger: Logger = pino(
    { level: config.level, base: { pid: process.pid } },
    process.stdout.isTTY ? prettyDestination(process.stdout) : pino.destination({ dest: 1, sync: true })
  )
  let tracker: ReturnType<typeof createTracker>
  try {
    tracker = createTracker({ ...config.init, logger })
  } catch (err) {
    process.stderr.write(`shoal-tracker: cannot start: ${describeError(err)}\n`)
    process.exit(1)
  }

  // Installed before starting, so a signal during start-up also ends in a clean stop (stop waits for start).
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) {
      // A second signal means "now": do not wait for the clean shutdown.
      process.exit(1)
    }
    stopping = true
    logger.info({ signal }, 'shutting down')
    tracker.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: describeError(err) }, 'shutdown failed')
        process.exit(1)
      }
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))

  try {
    await tracker.start()
  } catch (err) {
    process.stderr.write(`shoal-tracker: cannot start: ${describeError(err)}\n`)
    process.exit(1)
  }
  if (!stopping) logger.info({ url: tracker.url, dataDir: config.init.dataDir }, 'ready')
}

await main()
