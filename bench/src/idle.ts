/**
 * Idle network benchmark (`pnpm bench -- --only idle [options]`): a `shoal-testnet` as `npm start` runs it (a
 * release tracker's heartbeat interval, audits and repair on), left alone; after a settling time, the CPU of
 * every process (tracker and nodes) over a window, from /proc. Prints a table and, last, one JSON line:
 *
 *   {"nodes":16,"seconds":240,"totalPctOfCore":..,"trackerPct":..,"nodePct":{"min":..,"median":..,"max":..},..}
 *
 * Options: --nodes N (16)  --settle S (120: start-up compiles and first lookups end)  --seconds S (240)
 * --heartbeat-interval TIME (the tracker's default).
 */
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { Testnet } from '@shoal/testnet'
import { DEFAULTS, parseDuration } from '@shoal/tracker'
import { CpuMeter } from './proc-cpu.ts'
import { median, round } from './stats.ts'

const USAGE = `usage: pnpm bench -- --only idle [--nodes 16] [--settle 120] [--seconds 240] [--heartbeat-interval 30s]
`

export async function runIdle(argv: readonly string[]): Promise<number> {
  let values: { nodes: string; settle: string; seconds: string; 'heartbeat-interval'?: string; help?: boolean }
  try {
    values = parseArgs({
      args: argv.filter((a, i) => a !== '--' && a !== '--only' && argv[i - 1] !== '--only'),
      options: {
        nodes: { type: 'string', default: '16' },
        settle: { type: 'string', default: '120' },
        seconds: { type: 'string', default: '240' },
        'heartbeat-interval': { type: 'string' },
        help: { type: 'boolean' }
      }
    }).values as typeof values
  } catch (err) {
    process.stderr.write(`bench idle: ${(err as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const nodes = Number(values.nodes)
  const settleS = Number(values.settle)
  const seconds = Number(values.seconds)
  if (![nodes, settleS, seconds].every((n) => Number.isInteger(n) && n > 0)) {
    process.stderr.write(`bench idle: --nodes, --settle and --seconds take positive whole numbers\n${USAGE}`)
    return 2
  }
  const heartbeatMs =
    values['heartbeat-interval'] === undefined
      ? DEFAULTS.heartbeatIntervalMs
      : parseDuration(values['heartbeat-interval'])
  const log = (line: string) => process.stderr.write(`[bench idle ${new Date().toISOString().slice(11, 19)}] ${line}\n`)

  log(`starting ${nodes} nodes (heartbeat every ${heartbeatMs / 1000} s), load ${loadavg().map((v) => round(v, 2))}`)
  // The same network `shoal-testnet` (behind `npm start`) starts: test/src/bin.ts.
  const net = await Testnet.start({
    nodes,
    ops: true,
    k: 'auto',
    heartbeatInterval: `${heartbeatMs}ms`,
    offlineAfter: `${6 * heartbeatMs}ms`,
    readyTimeoutMs: 180_000
  })
  try {
    log(`settling for ${settleS} s`)
    await new Promise((resolve) => setTimeout(resolve, settleS * 1000))
    const loadBefore = loadavg()
    const trackerPid = net.tracker.pid
    const nodePids = net.nodes.map((n) => n.pid)
    log(`measuring ${seconds} s`)
    const meter = new CpuMeter(() => [trackerPid, ...nodePids], 5_000)
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const { total, byPid } = meter.stop()
    const pct = (cpuS: number) => round((100 * cpuS) / seconds, 2)
    const perNode = nodePids.map((pid) => pct(byPid.get(pid) ?? 0)).sort((a, b) => a - b)
    const result = {
      nodes,
      heartbeatMs,
      settleSeconds: settleS,
      seconds,
      totalPctOfCore: pct(total),
      trackerPct: pct(byPid.get(trackerPid) ?? 0),
      nodePct: { min: perNode[0] ?? 0, median: median(perNode), max: perNode.at(-1) ?? 0 },
      target: { totalPctOfCore: 5, met: pct(total) < 5 },
      loadavg: { before: loadBefore.map((v) => round(v, 2)), after: loadavg().map((v) => round(v, 2)) }
    }
    process.stdout.write(
      [
        '| processes | % of one core |',
        '|---|---|',
        `| all (${nodes} nodes and the tracker) | ${result.totalPctOfCore} (target < 5: ${result.target.met ? 'met' : 'missed'}) |`,
        `| tracker | ${result.trackerPct} |`,
        `| a node: min / median / max | ${result.nodePct.min} / ${result.nodePct.median} / ${result.nodePct.max} |`,
        `load average before / after: ${result.loadavg.before.join(' ')} / ${result.loadavg.after.join(' ')}`,
        ''
      ].join('\n')
    )
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return 0
  } finally {
    await net.stop()
  }
}
