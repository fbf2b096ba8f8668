import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { describeError, formatBytes, parseBytes } from '@shoal/core'
import pg from 'pg'
import pino, { type DestinationStream, type Level, type Logger } from 'pino'
import { ADMIN_USAGE, runAdminCli } from './admin-cli.ts'
import { parseDuration, resolveConfig, type TrackerInit } from './config.ts'
import { DEFAULTS } from './constants.ts'
import { AUTO_LAYOUTS } from './erasure-policy.ts'
import { MIN_ADMIN_TOKEN_LENGTH } from './http/admin-routes.ts'
import { OutboxMailSender } from './mail/mail-sender.ts'
import { OPS_DEFAULTS, type OpsSettings } from './ops/ops-config.ts'
import { migrate } from './store/pg/migrate.ts'
import { PgStore, redact } from './store/pg/pg-store.ts'
import { createTracker, TRACKER_VERSION } from './tracker.ts'

const USAGE = `Usage: shoal-tracker start --data DIR [options]
       shoal-tracker migrate --postgres URL
       shoal-tracker admin COMMAND ...   (takedowns, suspensions, reports: shoal-tracker admin --help)

Runs the Shoal tracker: accounts, storage-node registry, placement and grants over HTTP.
"migrate" brings a PostgreSQL database to this version's schema (safe to run again, or from several hosts).

Options:
  --config FILE              JSON object with any of these options, the flags' names as keys (e.g.
                             {"port": 7070, "k": 4, "m": 4, "audit-interval": "5m"}); flags and env override it
  --data DIR                 folder for the tracker key and database (env SHOAL_TRACKER_DATA)
  --postgres URL             keep state in PostgreSQL instead of the embedded LevelDB (env SHOAL_TRACKER_POSTGRES),
                             e.g. postgres://postgres@127.0.0.1:5432/shoal; several trackers may share one
                             database (give them the same tracker.key in --data)
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
  --heartbeat-interval TIME  how often nodes report (default ${DEFAULTS.heartbeatIntervalMs / 1000}s)
  --offline-after TIME       a node not heard from for this long counts as offline: no new pieces or grants
                             go to it (default 3 heartbeat intervals)
  --audit-interval TIME      how often a round of audits runs, 0 = no audits (default ${OPS_DEFAULTS.auditIntervalMs / 60_000}m);
                             with the repair check on, a round rides its pass instead (one walk of every segment
                             for both) and this only turns audits on or off
  --audit-rate FRACTION      share of all pieces audited per round, at least one per node (default ${OPS_DEFAULTS.auditRate})
  --audit-budget N           most audits a round picks by --audit-rate: the share falls as the network grows
                             (default ${OPS_DEFAULTS.auditBudget}; 0 = no limit)
  --audit-timeout TIME       an audit slower than this is a timeout, retried before it counts (default ${OPS_DEFAULTS.auditTimeoutMs / 1000}s)
  --vetting-audits N         audits a new node passes before it gets pieces freely (default ${OPS_DEFAULTS.vettingAudits})
  --audit-lambda L           memory of the audit score, 0 < L < 1: after n failures in a row it is L^n
                             (default ${OPS_DEFAULTS.auditLambda})
  --audit-dq SCORE           audit score below which a node is disqualified (default ${OPS_DEFAULTS.auditDisqualify})
  --max-offline TIME         a node offline longer is disqualified, its pieces lost (default ${OPS_DEFAULTS.maxOfflineMs / 3_600_000}h)
  --repair-interval TIME     how often a pass over every segment's health begins, 0 = no repair (default ${OPS_DEFAULTS.repairIntervalMs / 1000}s)
  --repair-scan-rate N       segments per second the repair check reads, a slice per tick: first the segments of
                             nodes whose state got worse, then the pass over every segment (default
                             ${OPS_DEFAULTS.repairScanSegmentsPerSecond}); keep segments / rate under the repair interval
  --scan-rate N              segments per second the audit round reads, a slice per tick (default
                             ${OPS_DEFAULTS.scanSegmentsPerSecond}); keep segments / rate under the audit interval
  --scan-tick TIME           pause between two slices of those walks (default ${OPS_DEFAULTS.scanTickMs / 1000}s)
  --version-purge-interval TIME  how often older file versions past their account's policy are purged, 0 = never (default ${OPS_DEFAULTS.versionPurgeIntervalMs / 60_000}m)
  --repair-margin N          repair a segment once it has at most k + N healthy pieces (default floor(m / 2))
  --repair-offline-grace TIME  pieces on an offline node last heard from this recently still count as healthy,
                             unless the segment is down to k online pieces (default ${OPS_DEFAULTS.repairOfflineGraceMs / 60_000}m; 0 = none)
  --repair-by WHO            nodes (default): a storage node rebuilds and stores the pieces, so repair bytes
                             never pass through the tracker (it repairs itself only when no node can);
                             tracker: always here
  --loopback-subnets RULE    node (default): each loopback node is its own failure domain; address: grouped
                             by the 127.0.0.N address they listen on
  --admit-nodes HOW          dial-back (default): list a node only at addresses where the tracker dialled it
                             back and it proved its key; trust: take heartbeats at their word (simulated nodes
                             in load tests only)
  --tls-cert FILE            serve HTTPS with this PEM certificate chain (reloaded when it changes); or put
                             a reverse proxy in front and use --trust-proxy (docs/deploy.md)
  --tls-key FILE             its PEM private key
  --admin-token-file FILE    enable the admin API (/v1/admin/: takedowns, suspensions, reports) for the bearer
                             token in FILE, at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -base64 32)
  --trust-proxy LIST         comma-separated addresses or CIDRs of reverse proxies (or "loopback") whose
                             X-Forwarded-For names the client: rate limits and node subnets see real clients
                             (default: none, the connection's address)
  --verify-email             sign-up needs a code mailed to the address, so sign-up answers the same for a new
                             and a registered email (docs/security.md); default off (a local testnet)
  --mail-outbox DIR          where mail goes as JSON files, one per message (default DATA/outbox); Shoal has
                             no SMTP client: a relay that sends these files, or a MailSender in code, delivers
  --signup-code-ttl TIME     how long an emailed sign-up code works (default 15m)
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

const OPTIONS = {
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
  'offline-after': { type: 'string' },
  'log-level': { type: 'string' },
  'audit-interval': { type: 'string' },
  'audit-rate': { type: 'string' },
  'audit-budget': { type: 'string' },
  'audit-timeout': { type: 'string' },
  'vetting-audits': { type: 'string' },
  'audit-lambda': { type: 'string' },
  'audit-dq': { type: 'string' },
  'max-offline': { type: 'string' },
  'repair-interval': { type: 'string' },
  'version-purge-interval': { type: 'string' },
  'repair-margin': { type: 'string' },
  'scan-rate': { type: 'string' },
  'repair-scan-rate': { type: 'string' },
  'scan-tick': { type: 'string' },
  'repair-offline-grace': { type: 'string' },
  'loopback-subnets': { type: 'string' },
  'repair-by': { type: 'string' },
  'admit-nodes': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'trust-proxy': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'verify-email': { type: 'boolean' },
  'mail-outbox': { type: 'string' },
  'signup-code-ttl': { type: 'string' },
  postgres: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' }
} as const

/** Environment variables that stand for options: set, they win over the config file. */
const ENV_OF: Record<string, string> = {
  data: 'SHOAL_TRACKER_DATA',
  port: 'SHOAL_TRACKER_PORT',
  postgres: 'SHOAL_TRACKER_POSTGRES',
  'log-level': 'SHOAL_LOG_LEVEL'
}

/** A JSON config file as flags: { "port": 7070, "k": 4, "audit-interval": "5m", ... }. */
function configFileArgs(path: string): string[] {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`--config ${path}: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`--config ${path}: must be a JSON object`)
  }
  const args: string[] = []
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const option = (OPTIONS as Record<string, { type: string }>)[key]
    if (option === undefined || key === 'config' || key === 'help' || key === 'version') {
      throw new UsageError(`--config ${path}: unknown option "${key}"`)
    }
    if (option.type === 'boolean') {
      // A switch (verify-email): true sets it, false leaves it off.
      if (typeof v !== 'boolean') throw new UsageError(`--config ${path}: "${key}" must be true or false`)
      if (v) args.push(`--${key}`)
      continue
    }
    if (typeof v !== 'string' && typeof v !== 'number') {
      throw new UsageError(`--config ${path}: "${key}" must be a string or a number`)
    }
    args.push(`--${key}`, String(v))
  }
  return args
}

/** Flags over environment over defaults; everything is checked here so a bad value stops the start at once. */
function readConfig(
  argv: string[],
  env: NodeJS.ProcessEnv
):
  | { init: Omit<TrackerInit, 'logger'>; level: Level; postgres: string | undefined }
  | { migrate: string }
  | 'help'
  | 'version' {
  const parse = (args: string[]) =>
    parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: OPTIONS
    })
  const { values: flags, positionals } = parse(argv)
  // A config file holds the same options; flags win over the environment, which wins over the file.
  const file = flags.config === undefined ? {} : parse(configFileArgs(flags.config)).values
  const values: typeof flags = { ...flags }
  for (const [key, value] of Object.entries(file)) {
    const name = key as keyof typeof flags
    const envName = ENV_OF[key]
    if (values[name] === undefined && (envName === undefined || !env[envName])) {
      ;(values as Record<string, unknown>)[name] = value
    }
  }
  if (values.help === true) return 'help'
  if (values.version === true) return 'version'
  const postgres = values.postgres ?? env.SHOAL_TRACKER_POSTGRES
  if (postgres !== undefined) checkPostgresUrl(postgres)
  if (positionals.length === 1 && positionals[0] === 'migrate') {
    if (postgres === undefined) throw new UsageError('migrate needs --postgres URL (or SHOAL_TRACKER_POSTGRES)')
    return { migrate: postgres }
  }
  if (positionals.length !== 1 || positionals[0] !== 'start') {
    throw new UsageError(
      positionals.length === 0 ? 'missing command: start or migrate' : `unknown command "${positionals.join(' ')}"`
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
  const init: Omit<TrackerInit, 'logger'> = { dataDir, policy }
  if (port !== undefined) init.port = integer('port', port, 0, 65_535)
  if (values.host !== undefined) init.host = values.host
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together')
  }
  if (values['tls-cert'] !== undefined && values['tls-key'] !== undefined) {
    init.tls = { cert: values['tls-cert'], key: values['tls-key'] }
  }
  if (values['admin-token-file'] !== undefined) {
    let token: string
    try {
      token = readFileSync(values['admin-token-file'], 'utf8').trim()
    } catch (err) {
      throw new UsageError(`--admin-token-file: ${(err as Error).message}`)
    }
    if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new UsageError(`--admin-token-file: the token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`)
    }
    init.adminToken = token
  }
  if (values['trust-proxy'] !== undefined) {
    init.trustProxy = values['trust-proxy']
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0)
  }
  if (values['verify-email'] === true) init.verifyEmail = true
  if (values['mail-outbox'] !== undefined) init.mailer = new OutboxMailSender(values['mail-outbox'])
  if (values['signup-code-ttl'] !== undefined) {
    init.signupCodeTtlMs = convert('signup-code-ttl', values['signup-code-ttl'], parseDuration)
  }
  if (values.quota !== undefined) init.defaultQuota = convert('quota', values.quota, parseBytes)
  if (values['heartbeat-interval'] !== undefined) {
    init.heartbeatIntervalMs = convert('heartbeat-interval', values['heartbeat-interval'], parseDuration)
  }
  if (values['offline-after'] !== undefined) {
    init.offlineAfterMs = convert('offline-after', values['offline-after'], parseDuration)
  }
  init.ops = readOps(values)
  try {
    // The config's own rules (k and m together, the commit threshold's range, offline after at least one
    // heartbeat) are usage errors too.
    resolveConfig(init)
  } catch (err) {
    throw new UsageError(
      (err as Error).message
        .replace(/\bminCommitPieces\b/, '--min-commit-pieces')
        .replace(/\bofflineAfterMs\b/, '--offline-after')
        .replace(/\bheartbeatIntervalMs\b/, '--heartbeat-interval')
    )
  }
  return { init, level: level as Level, postgres }
}

/** Audit and repair flags; an interval of 0 turns its loop off. */
function readOps(values: Record<string, string | boolean | undefined>): Partial<OpsSettings> {
  const text = (name: string): string | undefined => values[name] as string | undefined
  const interval = (name: string): number | undefined => {
    const v = text(name)
    if (v === undefined) return undefined
    return v.trim() === '0' ? 0 : convert(name, v, parseDuration)
  }
  const ops: Partial<OpsSettings> = {}
  const auditInterval = interval('audit-interval')
  if (auditInterval !== undefined) ops.auditIntervalMs = auditInterval
  const repairInterval = interval('repair-interval')
  if (repairInterval !== undefined) ops.repairIntervalMs = repairInterval
  const purgeInterval = interval('version-purge-interval')
  if (purgeInterval !== undefined) ops.versionPurgeIntervalMs = purgeInterval
  const timeout = text('audit-timeout')
  if (timeout !== undefined) ops.auditTimeoutMs = convert('audit-timeout', timeout, parseDuration)
  const offline = text('max-offline')
  if (offline !== undefined) ops.maxOfflineMs = convert('max-offline', offline, parseDuration)
  const by = text('repair-by')
  if (by !== undefined) {
    if (by !== 'nodes' && by !== 'tracker') throw new UsageError(`--repair-by must be nodes or tracker, not "${by}"`)
    ops.repairBy = by
  }
  const admit = text('admit-nodes')
  if (admit !== undefined) {
    if (admit !== 'dial-back' && admit !== 'trust') {
      throw new UsageError(`--admit-nodes must be dial-back or trust, not "${admit}"`)
    }
    ops.admitNodes = admit
  }
  const grace = interval('repair-offline-grace')
  if (grace !== undefined) ops.repairOfflineGraceMs = grace
  const rate = text('audit-rate')
  if (rate !== undefined) {
    const n = Number(rate)
    if (!(n >= 0 && n <= 1)) throw new UsageError(`--audit-rate must be a fraction from 0 to 1, not "${rate}"`)
    ops.auditRate = n
  }
  const budget = text('audit-budget')
  if (budget !== undefined) ops.auditBudget = integer('audit-budget', budget, 0, 100_000_000)
  const fraction = (name: string, min: number, max: number): number | undefined => {
    const v = text(name)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!(n > min && n < max)) throw new UsageError(`--${name} must be a number between ${min} and ${max}, not "${v}"`)
    return n
  }
  const lambda = fraction('audit-lambda', 0, 1)
  if (lambda !== undefined) ops.auditLambda = lambda
  const dq = fraction('audit-dq', 0, 1)
  if (dq !== undefined) ops.auditDisqualify = dq
  const vetting = text('vetting-audits')
  if (vetting !== undefined) ops.vettingAudits = integer('vetting-audits', vetting, 0, 1_000_000)
  const scanRate = text('scan-rate')
  if (scanRate !== undefined) ops.scanSegmentsPerSecond = integer('scan-rate', scanRate, 1, 10_000_000)
  const repairScanRate = text('repair-scan-rate')
  if (repairScanRate !== undefined) {
    ops.repairScanSegmentsPerSecond = integer('repair-scan-rate', repairScanRate, 1, 10_000_000)
  }
  const scanTick = text('scan-tick')
  if (scanTick !== undefined) ops.scanTickMs = convert('scan-tick', scanTick, parseDuration)
  const margin = text('repair-margin')
  if (margin !== undefined) ops.repairMargin = integer('repair-margin', margin, 0, 255)
  const loopback = text('loopback-subnets')
  if (loopback !== undefined) {
    if (loopback !== 'node' && loopback !== 'address') {
      throw new UsageError(`--loopback-subnets must be node or address, not "${loopback}"`)
    }
    ops.loopbackSubnets = loopback
  }
  return ops
}

function checkPostgresUrl(text: string): void {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`--postgres must be a URL like postgres://user@host:5432/database, not "${text}"`)
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UsageError(`--postgres must start with postgres://, not ${url.protocol}//`)
  }
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
  if (process.argv[2] === 'admin') {
    const args = process.argv.slice(3)
    if (args.length === 0) {
      process.stdout.write(ADMIN_USAGE)
      process.exit(2)
    }
    const write = (stream: NodeJS.WriteStream) => (text: string) => stream.write(text)
    process.exit(await runAdminCli(args, process.env, write(process.stdout), write(process.stderr)))
  }
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
  if ('migrate' in config) {
    await runMigrate(config.migrate)
    return
  }
  const logger: Logger = pino(
    { level: config.level, base: { pid: process.pid } },
    process.stdout.isTTY ? prettyDestination(process.stdout) : pino.destination({ dest: 1, sync: true })
  )
  let tracker: ReturnType<typeof createTracker>
  try {
    const store = config.postgres === undefined ? undefined : new PgStore({ url: config.postgres })
    tracker = createTracker({ ...config.init, logger, ...(store === undefined ? {} : { store }) })
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

/** Prints one line per applied migration, then where the database stands. */
async function runMigrate(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000 })
  pool.on('error', () => undefined)
  try {
    const result = await migrate(pool)
    for (const m of result.applied) process.stdout.write(`applied ${m.version}: ${m.name}\n`)
    process.stdout.write(
      result.applied.length === 0
        ? `${redact(url)} is at schema ${result.to}: nothing to do\n`
        : `${redact(url)} migrated from schema ${result.from} to ${result.to}\n`
    )
  } catch (err) {
    process.stderr.write(`shoal-tracker: migrate failed: ${describeError(err)}\n`)
    process.exitCode = 1
  } finally {
    await pool.end()
  }
}

await main()
