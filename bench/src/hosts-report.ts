import type { HostsRow } from './hosts.ts'
import { fmt, median, sizeLabel } from './stats.ts'

function caps(row: HostsRow): string {
  if (row.capsMBps.every((c) => c === null)) return 'none'
  const first = row.capsMBps[0]
  if (row.capsMBps.every((c) => c === first)) return `${row.nodes} x ${first}`
  return `${row.capsMBps.map((c) => c ?? '-').join(',')} (sum ${row.capsMBps.reduce<number>((s, c) => s + (c ?? 0), 0)})`
}

function mode(row: HostsRow): string {
  return row.mode === 'hosts' ? 'hosts' : `**LOOPBACK**${row.fallback === undefined ? '' : ` (${row.fallback})`}`
}

function load(row: HostsRow): string {
  const loads = row.runs.flatMap((r) => Object.values(r).map((s) => s.load1)).filter((v) => Number.isFinite(v))
  return fmt(median(loads), 1)
}

function worstExitLag(row: HostsRow): string {
  const lags = row.runs.flatMap((r) => [r.put, r.firstGet, r.laterGet]).map((s) => (s?.exitMs ?? 0) - (s?.ms ?? 0))
  const worst = Math.max(0, ...lags.filter((v) => Number.isFinite(v)))
  return `${fmt(worst / 1000, 1)} s`
}

/** Markdown tables of the hosts part: throughput side by side, then what each side cost. */
export function hostsTables(rows: readonly HostsRow[]): string {
  const speed = [
    '| scenario | network | size | caps MB/s | `shoal put` | first `shoal get` (first byte) | later `shoal get` (first byte) | SDK get | WebTorrent | 1 HTTP server | links ceiling | later / links | later / WT | later / WT paired | first / WT | first / later | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  const cost = [
    '| scenario | size | nodes CPU s/GB: put / first / later get | seeders CPU s/GB | client CPU s/GB: `shoal get` / SDK / WebTorrent | client peak RSS MB: `shoal get` / WebTorrent | `shoal` exit after its result, worst | errors |',
    '|---|---|---|---|---|---|---|---|'
  ]
  for (const row of rows) {
    const m = row.median
    const withTtfb = (k: 'firstGet' | 'laterGet'): string =>
      m[k] === undefined ? '-' : `${fmt(m[k]?.mbps)} (${fmt(m[k]?.ttfbMs, 0)} ms)`
    speed.push(
      `| ${row.scenario} | ${mode(row)} | ${sizeLabel(row.size)} | ${caps(row)} | ${fmt(m.put?.mbps)} | ${withTtfb('firstGet')} | ${withTtfb('laterGet')} | ${fmt(m.sdkGet?.mbps)} | ${fmt(m.webtorrent?.mbps)} | ${fmt(row.http?.mbps)} | ${fmt(row.links?.mbps)} | ${fmt(row.ratios.laterVsLinks, 2)} | ${fmt(row.ratios.laterVsWebtorrent, 2)} | ${fmt(row.ratios.pairedLaterVsWebtorrent, 2)} | ${fmt(row.ratios.firstVsWebtorrent, 2)} | ${fmt(row.ratios.firstVsLater, 2)} | ${load(row)} |`
    )
    cost.push(
      `| ${row.scenario} | ${sizeLabel(row.size)} | ${fmt(m.put?.serversCpuSPerGB)} / ${fmt(m.firstGet?.serversCpuSPerGB)} / ${fmt(m.laterGet?.serversCpuSPerGB)} | ${fmt(m.webtorrent?.serversCpuSPerGB)} | ${fmt(m.laterGet?.cpuSPerGB)} / ${fmt(m.sdkGet?.cpuSPerGB)} / ${fmt(m.webtorrent?.cpuSPerGB)} | ${fmt(m.laterGet?.peakRssMB, 0)} / ${fmt(m.webtorrent?.peakRssMB, 0)} | ${worstExitLag(row)} | ${row.errors.length === 0 ? '-' : row.errors.length} |`
    )
  }
  return [
    'MB/s medians of the runs (10^6 plaintext bytes/s). `shoal` rows are processes timed from spawn to their result (get: the last byte on its stdout; put: its `--json` result line), start-up included, the time they take to exit after it in the cost table; the SDK is timed from calling get(); WebTorrent from its process spawn to its "done". "paired": the median of each run\'s later get / WebTorrent. "links ceiling": a plain HTTP server on every host sending its cap\'s share of the file, all at once, from the first request to the last byte (no start-up): what the hosts\' links carry.',
    '',
    speed.join('\n'),
    '',
    cost.join('\n')
  ].join('\n')
}
