export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB
/** Throughput and memory are reported in MB = 10^6 bytes, the unit of the egress caps ('10MB/s'). */
export const MB = 1e6

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** MB/s from bytes and milliseconds. */
export function mbps(bytes: number, ms: number): number {
  return ms > 0 ? bytes / MB / (ms / 1000) : Number.NaN
}

export function round(value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** '16 MiB', '1 GiB', '10 MB/s'-style labels. */
export function sizeLabel(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`
  return `${round(bytes / MiB, 2)} MiB`
}

export function rateLabel(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? 'none' : `${round(bytesPerSecond / MB, 2)} MB/s`
}

/** A number for the table: '-' when not measured. */
export function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits)
}
