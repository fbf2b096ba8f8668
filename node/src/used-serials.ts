import { ErrorCode, ShoalError } from '@shoal/core'
import type { Level } from 'level'

function openSerials(db: Level<string, string>) {
  // Values are the keep-until time as a decimal string: both sublevels share the root's string encoding.
  return db.sublevel<string, string>('serials', { valueEncoding: 'utf8' })
}
function openExpiry(db: Level<string, string>) {
  return db.sublevel<string, string>('serial-expiry', { valueEncoding: 'utf8' })
}

/** Fixed-width decimal so that level's byte order is time order. */
const timeKey = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(16, '0')

/**
 * Grant serials this node has honoured, kept until their grant can no longer verify (expiry plus clock skew),
 * so a grant works once even across restarts. A second index by expiry lets pruning read only what expired.
 */
export class UsedSerials {
  readonly #serials: ReturnType<typeof openSerials>
  readonly #expiry: ReturnType<typeof openExpiry>
  /** Claims between their check and their write: closes the gap in which two uses could both pass. */
  readonly #claiming = new Set<string>()

  constructor(db: Level<string, string>) {
    this.#serials = openSerials(db)
    this.#expiry = openExpiry(db)
  }

  /** Records `serial` as used until `keepUntil`; ERR_GRANT_REPLAYED if it was used before. */
  async claim(serial: string, keepUntil: number): Promise<void> {
    if (this.#claiming.has(serial)) throw replayed(serial)
    this.#claiming.add(serial)
    try {
      if ((await this.#serials.get(serial)) !== undefined) throw replayed(serial)
      await this.#serials.db.batch([
        { type: 'put', sublevel: this.#serials, key: serial, value: String(keepUntil) },
        { type: 'put', sublevel: this.#expiry, key: `${timeKey(keepUntil)}!${serial}`, value: '' }
      ])
    } finally {
      this.#claiming.delete(serial)
    }
  }

  async has(serial: string): Promise<boolean> {
    return this.#claiming.has(serial) || (await this.#serials.get(serial)) !== undefined
  }

  /** Drops serials whose grants expired before `now`; returns how many. */
  async prune(now: number, signal?: AbortSignal): Promise<number> {
    let pruned = 0
    let batch: { key: string; serial: string }[] = []
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      await this.#serials.db.batch(
        batch.flatMap(({ key, serial }) => [
          { type: 'del' as const, sublevel: this.#expiry, key },
          { type: 'del' as const, sublevel: this.#serials, key: serial }
        ])
      )
      pruned += batch.length
      batch = []
    }
    for await (const key of this.#expiry.keys({ lt: timeKey(now) })) {
      signal?.throwIfAborted()
      batch.push({ key, serial: key.slice(17) })
      if (batch.length >= 1000) await flush()
    }
    await flush()
    return pruned
  }
}

function replayed(serial: string): ShoalError {
  return new ShoalError(ErrorCode.GRANT_REPLAYED, `grant ${serial} was already used`, { details: { serial } })
}
