import {
  formatBytes,
  formatMicros,
  gibibytes,
  gibMonths,
  type Invoice,
  planLabel,
  type UsageResponse
} from '@shoal/core'

/** `shoal usage`: the month's metered storage and downloads and what they cost so far. */
export function usageLines(u: UsageResponse): string {
  return [
    `plan ${planLabel(u)}, ${u.period} to date:`,
    `  stored      ${gibMonths(u.storageByteMs)} GiB-months (${u.storageByteHours} byte-hours)  ${formatMicros(u.storageMicros)}`,
    `  downloaded  ${formatBytes(u.egressBytes)} (${gibibytes(u.egressBytes)} GiB)  ${formatMicros(u.egressMicros)}`,
    `  total       ${formatMicros(u.totalMicros)}`
  ].join('\n')
}

/** `shoal invoice PERIOD`: one invoice as a person reads it. */
export function invoiceLines(i: Invoice): string {
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
  return [
    `invoice ${i.period} (${day(i.from)} to ${day(i.to - 1)}), plan ${planLabel(i)}, issued ${day(i.issuedAt)}`,
    `  storage   ${gibMonths(i.storageByteMs)} GiB-months  ${formatMicros(i.storageMicros)}`,
    `  download  ${gibibytes(i.egressBytes)} GiB  ${formatMicros(i.egressMicros)}`,
    `  total     ${formatMicros(i.totalMicros)}`
  ].join('\n')
}
