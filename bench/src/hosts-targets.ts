import type { HostsRow } from './hosts.ts'
import { atLeast, atMost, type Target } from './targets.ts'

/**
 * Issue 11's targets for what a user runs on simulated hosts (every figure from the same run as WebTorrent).
 * "later" is the `shoal get` after the testnet went quiet, "first" the one right after `shoal put`.
 */
export function evaluateHostsTargets(rows: readonly HostsRow[]): Target[] {
  const targets: Target[] = []
  for (const row of rows) {
    const m = row.median
    const scope = `${row.id}${row.mode === 'loopback' ? ' (LOOPBACK)' : ''}`
    if (row.scenario === 'capped') {
      const sumCaps = row.capsMBps.reduce<number>((s, c) => s + (c ?? 0), 0)
      targets.push(
        atLeast(
          'hosts-capped-get',
          `shoal get >= 90% of the caps (${sumCaps} MB/s${row.links === undefined ? '' : `; the links ceiling carried ${row.links.mbps} MB/s in this run`})`,
          scope,
          0.9 * sumCaps,
          m.laterGet?.mbps,
          'MB/s'
        ),
        atLeast(
          'hosts-first-get',
          'first get after shoal put >= 90% of a later one',
          scope,
          0.9,
          row.ratios.firstVsLater,
          'x later'
        )
      )
    }
    if (row.scenario === 'capped' || row.scenario === 'uneven') {
      targets.push(
        atLeast(
          'hosts-vs-webtorrent',
          'shoal get >= 1.3x WebTorrent, same hosts and caps',
          scope,
          1.3,
          row.ratios.laterVsWebtorrent,
          'x WebTorrent'
        )
      )
    }
    if (row.scenario === 'uncapped') {
      targets.push(
        atLeast(
          'hosts-uncapped-vs-webtorrent',
          'uncapped shoal get >= 2x WebTorrent',
          scope,
          2,
          row.ratios.laterVsWebtorrent,
          'x WebTorrent'
        ),
        atLeast('hosts-uncapped-get', 'uncapped shoal get >= 120 MB/s', scope, 120, m.laterGet?.mbps, 'MB/s'),
        atLeast('hosts-uncapped-put', 'uncapped shoal put >= 60 MB/s', scope, 60, m.put?.mbps, 'MB/s')
      )
    }
    targets.push(
      atMost(
        'hosts-nodes-cpu',
        'nodes <= 6 CPU-s per GB served (later get; tracker included)',
        scope,
        6,
        m.laterGet?.serversCpuSPerGB,
        's/GB'
      ),
      atMost(
        'hosts-client-cpu',
        'client <= 8 CPU-s/GB downloading (shoal get process, start-up included)',
        scope,
        8,
        m.laterGet?.cpuSPerGB,
        's/GB'
      ),
      atMost(
        'hosts-first-byte',
        'shoal get from process start to first byte written < 1 s',
        scope,
        1000,
        m.laterGet?.ttfbMs,
        'ms'
      )
    )
  }
  return targets
}
