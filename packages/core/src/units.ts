const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12
}

/** Parses '500GB', '20MB', '1.5GiB', '1048576' into bytes; '/s' suffixes are accepted for rates. */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*(?:\/s)?\s*$/.exec(text)
  const unit = match?.[2]?.toLowerCase() ?? ''
  const factor = UNITS[unit]
  if (match === null || factor === undefined) {
    throw new TypeError(`cannot read "${text}" as a size: use a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB`)
  }
  const value = Math.floor(Number(match[1]) * factor)
  if (!Number.isSafeInteger(value)) throw new TypeError(`size "${text}" is too large`)
  return value
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses '500ms', '10s', '5m', '24h', '30d' or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (match === null) throw new TypeError(`cannot read "${text}" as a duration: use a number with ms, s, m, h or d`)
  const value = Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] as number))
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`duration "${text}" is out of range`)
  return value
}
