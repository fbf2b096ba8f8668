import type { BaselineResult } from './baselines.ts'
import type { CodecResult } from './codec.ts'
import { fmt, round, sizeLabel } from './stats.ts'
import type { SwarmRow } from './swarm.ts'
import { holders, type Target } from './targets.ts'

/** A Markdown pipe table, aligned for a terminal too. */
export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

export function codecTable(results: readonly CodecResult[]): string {
  return markdownTable(
    ['codec (1 thread, 8 MiB segment)', 'MB/s (median)', 'samples'],
    results.map((r) => [r.id, fmt(r.median, 0), r.samples.map((s) => s.toFixed(0)).join(', ')])
  )
}

export function baselineTable(results: readonly BaselineResult[]): string {
  return markdownTable(
    ['baseline', 'size', 'MB/s (median)', 'samples', 'what'],
    results.map((r) => [
      r.id,
      sizeLabel(r.bytes),
      fmt(r.median, r.median < 100 ? 2 : 0),
      r.samples.map((s) => String(s)).join(', '),
      `${r.what}${r.match === false ? ' (BYTES DIFFER)' : ''}`
    ])
  )
}

function pair(a: number | undefined, b: number | undefined, digits = 1): string {
  if (a === undefined && b === undefined) return '-'
  return `${fmt(a, digits)} / ${fmt(b, digits)}`
}

/** The "vs baseline" cell: capped rows against the sum of caps and one capped server; faults against healthy. */
function ratioCell(
  row: SwarmRow,
  rows: readonly SwarmRow[],
  baselines: readonly BaselineResult[],
  segmentSize: number
) {
  const down = row.median.downloadMBps
  if (down === undefined) return '-'
  if (row.compareTo !== undefined) {
    return row.downloadRatio === undefined ? '-' : `${row.downloadRatio.toFixed(2)}x healthy`
  }
  if (row.kind === 'swarm' && row.capMBps !== null) {
    const sum = holders(row, segmentSize) * row.capMBps
    const http = baselines.find((b) => b.id === 'http-single-server')?.median
    const parts = [`${((down / sum) * 100).toFixed(0)}% of ${round(sum, 1)} caps`]
    if (http !== undefined && http > 0) parts.push(`${(down / http).toFixed(1)}x 1 server`)
    return parts.join(', ')
  }
  if (row.kind === 'swarm') {
    const capped = rows.find(
      (r) => r.kind === 'swarm' && r.capMBps !== null && r.nodes === row.nodes && r.size === row.size
    )
    const tcp = baselines.find((b) => b.id === 'raw-tcp')?.median
    const parts: string[] = []
    if (tcp !== undefined) parts.push(`${((down / tcp) * 100).toFixed(0)}% of raw TCP`)
    if (capped?.median.downloadMBps !== undefined)
      parts.push(`${(down / capped.median.downloadMBps).toFixed(1)}x capped`)
    return parts.join(', ') || '-'
  }
  return '-'
}

export function swarmTable(
  rows: readonly SwarmRow[],
  baselines: readonly BaselineResult[],
  segmentSize: number
): string {
  return markdownTable(
    [
      'scenario',
      'nodes',
      'k+m',
      'cap',
      'size',
      'runs',
      'upload MB/s',
      'download MB/s',
      'client CPU s/GB up / down',
      'nodes CPU s/GB up / down',
      'peak RSS MB up / down',
      'TTFB ms',
      'load',
      'vs baseline'
    ],
    rows.map((row) => {
      if (!row.applicable) {
        // 14 columns: title, nodes, 11 empty cells, and the reason in the last one.
        return [row.title, String(row.nodes), ...Array.from({ length: 11 }, () => '-'), row.note ?? 'not applicable']
      }
      const cap =
        row.slowNode === undefined
          ? row.capMBps === null
            ? 'none'
            : `${row.capMBps}`
          : `${row.capMBps ?? 'none'}, node ${row.slowNode.index}: ${row.slowNode.capMBps}`
      const failed = row.errors.length > 0 ? ' FAILED' : ''
      return [
        `${row.kind}${failed}`,
        String(row.nodes),
        `${row.k}+${row.m}`,
        cap,
        sizeLabel(row.size),
        String(row.runs.length),
        fmt(row.median.uploadMBps),
        fmt(row.median.downloadMBps),
        pair(row.median.uploadCpuSPerGB, row.median.downloadCpuSPerGB, 2),
        pair(row.median.uploadNetCpuSPerGB, row.median.downloadNetCpuSPerGB, 2),
        pair(row.median.uploadPeakRssMB, row.median.downloadPeakRssMB, 0),
        fmt(row.median.ttfbMs, 0),
        `${fmt(row.median.load1)}${row.median.unsettled === undefined ? '' : ` (${row.median.unsettled} busy)`}`,
        ratioCell(row, rows, baselines, segmentSize)
      ]
    })
  )
}

export function targetTable(targets: readonly Target[]): string {
  return markdownTable(
    ['target', 'scope', 'goal', 'measured', 'met', 'shortfall'],
    targets.map((t) => [
      t.description,
      t.scope,
      t.goal,
      t.measured,
      t.met === null ? 'not run' : t.met ? 'met' : 'MISSED',
      t.shortfall ?? ''
    ])
  )
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** Short label of a row for the chart. */
function chartLabel(row: SwarmRow): string {
  const cap = row.capMBps === null ? 'uncapped' : `${row.capMBps} MB/s`
  const slow = row.slowNode === undefined ? '' : `, node ${row.slowNode.index} at ${row.slowNode.capMBps} MB/s`
  const kind = row.kind === 'swarm' ? '' : `${row.kind}: `
  return `${kind}${row.nodes}n ${row.k}+${row.m} ${cap}${slow}, ${sizeLabel(row.size)}`
}

/**
 * Grouped horizontal bars: download and upload MB/s per scenario (the single-server HTTP baseline as a bar of
 * its own; raw TCP, far off the scale, in the subtitle). Hand-written SVG, no dependencies.
 */
export function chartSvg(
  rows: readonly SwarmRow[],
  baselines: readonly BaselineResult[],
  title: string,
  subtitle: string
): string {
  const bars: { label: string; down?: number; up?: number }[] = []
  const http = baselines.find((b) => b.id === 'http-single-server')
  if (http !== undefined) bars.push({ label: `1 HTTP server, ${sizeLabel(http.bytes)} (baseline)`, down: http.median })
  for (const row of rows) {
    if (!row.applicable) continue
    if (row.median.downloadMBps === undefined && row.median.uploadMBps === undefined) continue
    bars.push({
      label: chartLabel(row),
      ...(row.median.downloadMBps === undefined ? {} : { down: row.median.downloadMBps }),
      ...(row.median.uploadMBps === undefined ? {} : { up: row.median.uploadMBps })
    })
  }
  // About 6.2 px per character of 11 px sans-serif, plus a margin.
  const labelWidth = Math.max(200, Math.ceil(Math.max(...bars.map((b) => b.label.length)) * 6.2) + 20)
  const plotWidth = 560
  const barH = 11
  const groupH = barH * 2 + 8
  const top = 64
  const height = top + bars.length * groupH + 40
  const width = labelWidth + plotWidth + 90
  const max = Math.max(1, ...bars.flatMap((b) => [b.down ?? 0, b.up ?? 0]))
  const step = niceStep(max / 6)
  const axisMax = Math.ceil(max / step) * step
  const x = (v: number) => labelWidth + (v / axisMax) * plotWidth
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="10" y="38" fill="#555">${escapeXml(subtitle)}</text>`,
    `<rect x="${labelWidth}" y="46" width="10" height="10" fill="#2b6cb0"/><text x="${labelWidth + 14}" y="55">download MB/s</text>`,
    `<rect x="${labelWidth + 120}" y="46" width="10" height="10" fill="#dd6b20"/><text x="${labelWidth + 134}" y="55">upload MB/s</text>`
  )
  for (let v = 0; v <= axisMax + 1e-9; v += step) {
    const px = x(v)
    out.push(
      `<line x1="${px}" y1="${top - 4}" x2="${px}" y2="${height - 30}" stroke="#e2e2e2"/>`,
      `<text x="${px}" y="${height - 16}" text-anchor="middle" fill="#555">${round(v, 1)}</text>`
    )
  }
  bars.forEach((b, i) => {
    const y = top + i * groupH
    out.push(`<text x="${labelWidth - 8}" y="${y + barH + 4}" text-anchor="end">${escapeXml(b.label)}</text>`)
    const bar = (value: number | undefined, dy: number, color: string) => {
      if (value === undefined) return
      const w = Math.max(1, x(value) - labelWidth)
      out.push(
        `<rect x="${labelWidth}" y="${y + dy}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`,
        `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + dy + barH - 2}" fill="#333">${round(value, 1)}</text>`
      )
    }
    bar(b.down, 0, '#2b6cb0')
    bar(b.up, barH + 1, '#dd6b20')
  })
  out.push(`<text x="${labelWidth + plotWidth / 2}" y="${height - 2}" text-anchor="middle" fill="#555">MB/s</text>`)
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)))
  for (const f of [1, 2, 2.5, 5, 10]) if (raw <= f * p) return f * p
  return 10 * p
}
