import type { BaselineResult } from './baselines.ts'
import { MiB, round, sizeLabel } from './stats.ts'
import type { SwarmRow } from './swarm.ts'

export interface Target {
  id: string
  description: string
  /** The row (or rows) measured. */
  scope: string
  goal: string
  measured: string
  /** null: not measured in this run. */
  met: boolean | null
  /** Where missed: by how much. */
  shortfall?: string
}

/** The issue's own figures for capped swarms at 10 MB/s per node (16 nodes: the client's ceiling binds). */
const ISSUE_CAPPED_FIGURES: Record<number, number> = { 8: 72, 16: 130 }

export function atLeast(
  id: string,
  description: string,
  scope: string,
  goal: number,
  measured: number | undefined,
  unit: string
) {
  const t: Target = {
    id,
    description,
    scope,
    goal: `>= ${round(goal, 2)} ${unit}`,
    measured: measured === undefined ? 'not measured' : `${round(measured, 2)} ${unit}`,
    met: measured === undefined ? null : measured >= goal
  }
  if (measured !== undefined && measured < goal) {
    t.shortfall = `short by ${round(goal - measured, 2)} ${unit} (${round(((goal - measured) / goal) * 100, 1)}% below)`
  }
  return t
}

export function atMost(
  id: string,
  description: string,
  scope: string,
  goal: number,
  measured: number | undefined,
  unit: string
) {
  const t: Target = {
    id,
    description,
    scope,
    goal: `< ${round(goal, 1)} ${unit}`,
    measured: measured === undefined ? 'not measured' : `${round(measured, 1)} ${unit}`,
    met: measured === undefined ? null : measured < goal
  }
  if (measured !== undefined && measured >= goal) {
    t.shortfall = `over by ${round(measured - goal, 1)} ${unit} (${round(((measured - goal) / goal) * 100, 1)}% above)`
  }
  return t
}

/** Nodes holding pieces of the file: all of them when k + m = n (the default layout); else an upper bound. */
export function holders(row: SwarmRow, segmentSize: number): number {
  const segments = Math.max(1, Math.ceil(row.size / segmentSize))
  return Math.min(
    row.nodes,
    (row.k ?? 0) + (row.m ?? 0) === row.nodes ? row.nodes : ((row.k ?? 0) + (row.m ?? 0)) * segments
  )
}

export function evaluateTargets(
  rows: readonly SwarmRow[],
  baselines: readonly BaselineResult[],
  segmentSize: number,
  bigRun: boolean
): Target[] {
  const targets: Target[] = []
  const swarm = rows.filter((r) => r.kind === 'swarm' && r.applicable)
  // The client's ceiling: the best uncapped download at this size at any node count in this run (a property of
  // the client, so a node count whose own uncapped run went badly does not lower the bar for its capped run).
  const ceilingFor = (row: SwarmRow): number | undefined => {
    const values = swarm
      .filter((r) => r.capMBps === null && r.size === row.size)
      .map((r) => r.median.downloadMBps)
      .filter((v): v is number => v !== undefined)
    return values.length === 0 ? undefined : Math.max(...values)
  }

  // 1. Capped swarm download >= 90% of the sum of caps of the nodes holding pieces, up to the client's ceiling.
  for (const row of swarm.filter((r) => r.capMBps !== null)) {
    const sumCaps = holders(row, segmentSize) * row.capMBps!
    const ceiling = ceilingFor(row)
    let goal = 0.9 * Math.min(sumCaps, ceiling ?? Number.POSITIVE_INFINITY)
    const figure = row.capMBps === 10 ? ISSUE_CAPPED_FIGURES[row.nodes] : undefined
    if (figure !== undefined) goal = Math.min(goal, figure)
    const t = atLeast(
      'capped-download',
      `capped download >= 90% of the sum of caps (${round(sumCaps, 1)} MB/s)${ceiling === undefined ? '' : ` up to the client's ceiling (best uncapped: ${ceiling} MB/s)`}`,
      row.id,
      goal,
      row.median.downloadMBps,
      'MB/s'
    )
    targets.push(t)
  }

  // 2-3. Uncapped download >= 250 MB/s and upload >= 150 MB/s at 256 MiB (the largest size when 256 MiB was not run).
  const uncapped = swarm.filter((r) => r.capMBps === null)
  const sizes = [...new Set(uncapped.map((r) => r.size))]
  const size = sizes.includes(256 * MiB) ? 256 * MiB : Math.max(...sizes)
  const note = size === 256 * MiB ? '' : ` (256 MiB not run: at ${sizeLabel(size)})`
  for (const row of uncapped.filter((r) => r.size === size)) {
    targets.push(
      atLeast('uncapped-download', `uncapped download >= 250 MB/s${note}`, row.id, 250, row.median.downloadMBps, 'MB/s')
    )
    targets.push(
      atLeast('uncapped-upload', `uncapped upload >= 150 MB/s${note}`, row.id, 150, row.median.uploadMBps, 'MB/s')
    )
  }

  // 4. One node 10x slower costs < 10% of download speed.
  for (const row of rows.filter((r) => r.kind === 'slow-node' && r.applicable)) {
    targets.push(
      atLeast(
        'slow-node',
        `one node 10x slower costs < 10% of download speed (vs ${row.compareTo ?? 'no healthy run'})`,
        row.id,
        0.9,
        row.downloadRatio,
        'x healthy'
      )
    )
  }

  // 5. m nodes killed mid-download cost < 25%, with no error and the right bytes.
  for (const row of rows.filter((r) => r.kind === 'kill')) {
    const t = atLeast(
      'kill-m-nodes',
      `${row.m} nodes killed mid-download cost < 25% (vs ${row.compareTo})`,
      row.id,
      0.75,
      row.downloadRatio,
      'x healthy'
    )
    targets.push(t)
    const downloads = row.runs.map((r) => r.download).filter((d) => d !== undefined)
    const clean = downloads.length > 0 && row.errors.length === 0 && downloads.every((d) => d.ok && d.match === true)
    targets.push({
      id: 'kill-no-error',
      description: `${row.m} nodes killed mid-download: no error, bytes match, kill landed mid-transfer`,
      scope: row.id,
      goal: 'no error, sha256 equal',
      measured:
        downloads.length === 0
          ? 'not measured'
          : clean
            ? `${downloads.length} of ${downloads.length} downloads clean`
            : row.errors.join('; '),
      met: downloads.length === 0 ? null : clean
    })
  }

  // 6. Client peak RSS < 300 MB downloading a 2 GiB file.
  const big = rows.find((r) => r.kind === 'big')
  // Measured on `shoal get`, what users run; the SDK's own process (no runtime tuning) is named beside it.
  const sdkRss = big?.median.downloadPeakRssMB
  const bigTarget = atMost(
    'peak-rss-2gib',
    `client peak RSS < 300 MB downloading a 2 GiB file (shoal get${sdkRss === undefined ? '' : `; the SDK's process: ${sdkRss} MB`})`,
    big?.id ?? '--big',
    300,
    big?.cliGet?.ok === true ? big.cliGet.peakRssMB : undefined,
    'MB'
  )
  if (!bigRun) bigTarget.measured = 'not run (needs --big)'
  targets.push(bigTarget)

  // 7. Time to first byte < 250 ms (uncapped: with a cap, the first piece alone takes piece size / cap).
  for (const row of uncapped) {
    targets.push(atMost('ttfb', 'time to first byte < 250 ms (uncapped)', row.id, 250, row.median.ttfbMs, 'ms'))
  }

  // The single-server baseline must itself be right, or the ratios against it mean nothing.
  const http = baselines.find((b) => b.id === 'http-single-server')
  if (http?.match === false) {
    targets.push({
      id: 'http-baseline-bytes',
      description: 'HTTP baseline moved the right bytes',
      scope: http.id,
      goal: 'sha256 equal',
      measured: 'MISMATCH',
      met: false
    })
  }
  return targets
}
