import { formatBytes } from '@shoal/core'
import type { EarningsView, NodeStatusView } from './status.ts'

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`

/** `shoal-node status` for a person: a few aligned lines. */
export function formatStatus(s: NodeStatusView, url: string): string {
  const rows: [string, string][] = [
    ['node', `${s.peerId} (${s.status}, version ${s.version})`],
    [
      'stored',
      `${formatBytes(s.stored)} of ${formatBytes(s.capacity)} (${percent(s.capacity > 0 ? s.stored / s.capacity : 0)}), ${s.pieces} pieces`
    ],
    [
      'traffic',
      `${formatBytes(s.bytesIn)} in, ${formatBytes(s.bytesOut)} out since ${new Date(s.startedAt).toISOString()}`
    ],
    [
      'requests',
      Object.entries(s.requests)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') + `, ${s.failures} refused`
    ],
    ['audits', `${s.audits.answered} answered, ${s.audits.refused} refused`]
  ]
  const r = s.reputation
  if (r === null) rows.push(['reputation', 'no tracker configured'])
  else if ('error' in r) rows.push(['reputation', r.error])
  else {
    rows.push([
      'reputation',
      `audit ${percent(r.auditScore)}, uptime ${percent(r.uptimeScore)}, ${r.audits.passed} passed / ${r.audits.failed} failed, ${r.vetted ? 'vetted' : 'not vetted yet'}`
    ])
    if (r.disqualified !== undefined) rows.push(['DISQUALIFIED', r.disqualified.reason])
  }
  rows.push(['earnings', s.earnings === null ? 'not available yet' : earningsLine(s.earnings)])
  rows.push(['tracker', `${s.tracker ?? '-'} (${s.heartbeats.sent} heartbeats, ${s.heartbeats.failed} failed)`])
  rows.push(['dashboard', url])
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
}

/** This month's earnings, and what the operator should know about them: repair traffic, unpaid storage. */
export function earningsLine(e: EarningsView): string {
  const parts = [
    `${(e.thisMonth / 1e6).toFixed(2)} ${e.currency} this month`,
    `${(e.heldBack / 1e6).toFixed(2)} held back`
  ]
  if (e.servedToRepairs > 0) parts.push(`${formatBytes(e.servedToRepairs)} served to repairs`)
  if (Number(e.unpaidGiBMonths) > 0) parts.push(`${e.unpaidGiBMonths} GiB-months unpaid (pieces that failed audits)`)
  return parts.join(', ')
}
