import type { TransferProgress } from '@shoal/client'
import { formatBytes } from '@shoal/core'

/** A one-line progress bar with speed, redrawn at most every 100 ms; silent when stderr is not a terminal. */
export function progressBar(
  label: string,
  stream: NodeJS.WriteStream
): {
  update: (p: TransferProgress) => void
  done: (p?: TransferProgress) => void
} {
  const started = performance.now()
  let last = 0
  let latest: TransferProgress | undefined
  const draw = (p: TransferProgress, final: boolean): void => {
    if (stream.isTTY !== true) return
    const seconds = Math.max((performance.now() - started) / 1000, 0.001)
    const pct = p.total === 0 ? 100 : Math.floor((p.bytes / p.total) * 100)
    const width = 24
    const filled = Math.round((pct / 100) * width)
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`
    const speed = `${formatBytes(p.bytes / seconds)}/s`
    stream.write(
      `\r${label} [${bar}] ${String(pct).padStart(3)}% ${formatBytes(p.bytes)}/${formatBytes(p.total)} ${speed}\x1b[K`
    )
    if (final) stream.write('\n')
  }
  return {
    update(p) {
      latest = p
      const now = performance.now()
      if (now - last < 100) return
      last = now
      draw(p, false)
    },
    done(p) {
      const final = p ?? latest
      if (final !== undefined) draw(final, true)
    }
  }
}

export function speedLine(bytes: number, ms: number): string {
  return `${formatBytes(bytes)} in ${(ms / 1000).toFixed(2)} s (${formatBytes((bytes / Math.max(ms, 1)) * 1000)}/s)`
}
