import { describeError } from '@shoal/core'
import { errorMessage } from './format.ts'
import { ProgressMeter } from './progress-meter.ts'

export type TransferKind = 'upload' | 'download'
export type TransferState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'

export interface Transfer {
  id: number
  kind: TransferKind
  name: string
  total: number
  bytes: number
  /** Bytes per second, smoothed; 0 while not known yet (the first second, or a transfer too short to measure). */
  speed: number
  /** Seconds left, once the speed is known. */
  remaining?: number
  state: TransferState
  error?: string
  /** What went wrong underneath `error`, for a tooltip and bug reports (the cause's own message). */
  detail?: string
  /** Something a finished transfer should tell (an upload stored degraded while nodes were down). */
  note?: string
  startedAt?: number
  endedAt?: number
}

/** A transfer's work; it may resolve to `{ note }`, a line to show under the finished transfer. */
type Job = (t: { signal: AbortSignal; progress: (bytes: number) => void }) => Promise<unknown>

interface Entry {
  transfer: Transfer
  controller: AbortController
  job: Job
  meter?: ProgressMeter
}

/** How often running transfers are redrawn between the engine's (per-segment) reports. */
const TICK_MS = 200

/**
 * The queue behind the transfers panel: uploads and downloads with progress, smoothed speed and cancel. A few
 * run at once (each one already pulls from or pushes to many nodes in parallel); the rest wait their turn.
 */
export class Transfers {
  readonly #entries = new Map<number, Entry>()
  readonly #listeners = new Set<() => void>()
  readonly #concurrency: number
  #nextId = 1
  #snapshot: readonly Transfer[] = []
  #ticker: ReturnType<typeof setInterval> | undefined

  constructor(concurrency = 2) {
    this.#concurrency = concurrency
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  snapshot = (): readonly Transfer[] => this.#snapshot

  /** Queues a job; resolves when it ends (never rejects: the outcome is in the transfer's state). */
  add(kind: TransferKind, name: string, total: number, job: Job): { id: number; done: Promise<Transfer> } {
    const id = this.#nextId++
    const entry: Entry = {
      transfer: { id, kind, name, total, bytes: 0, speed: 0, state: 'queued' },
      controller: new AbortController(),
      job
    }
    this.#entries.set(id, entry)
    this.#changed()
    const done = new Promise<Transfer>((resolve) => {
      const check = (): void => {
        const t = this.#entries.get(id)?.transfer
        if (t === undefined || t.state === 'done' || t.state === 'failed' || t.state === 'cancelled') {
          unsubscribe()
          resolve(t ?? entry.transfer)
        }
      }
      const unsubscribe = this.subscribe(check)
    })
    this.#pump()
    return { id, done }
  }

  cancel(id: number): void {
    const entry = this.#entries.get(id)
    if (entry === undefined) return
    if (entry.transfer.state === 'queued') this.#update(entry, { state: 'cancelled', endedAt: Date.now() })
    entry.controller.abort(new DOMException('cancelled', 'AbortError'))
  }

  /** Drops one finished transfer from the list (e.g. a failed upload that is being retried). */
  remove(id: number): void {
    const entry = this.#entries.get(id)
    if (entry === undefined || entry.transfer.state === 'running' || entry.transfer.state === 'queued') return
    this.#entries.delete(id)
    this.#changed()
  }

  /** Drops finished transfers from the list. */
  clearFinished(): void {
    for (const [id, e] of this.#entries)
      if (e.transfer.state !== 'running' && e.transfer.state !== 'queued') {
        this.#entries.delete(id)
      }
    this.#changed()
  }

  #pump(): void {
    const entries = [...this.#entries.values()]
    let running = entries.filter((e) => e.transfer.state === 'running').length
    for (const entry of entries) {
      if (running >= this.#concurrency) break
      if (entry.transfer.state !== 'queued') continue
      running++
      void this.#run(entry)
    }
  }

  async #run(entry: Entry): Promise<void> {
    const meter = new ProgressMeter(entry.transfer.total)
    entry.meter = meter
    this.#update(entry, { state: 'running', startedAt: Date.now() })
    this.#tick()
    try {
      const outcome = await entry.job({ signal: entry.controller.signal, progress: (bytes) => meter.report(bytes) })
      const average = meter.average()
      const { remaining: _, ...rest } = entry.transfer
      entry.transfer = rest
      this.#update(entry, {
        state: 'done',
        bytes: entry.transfer.total,
        speed: average ?? 0,
        endedAt: Date.now(),
        ...noteOf(outcome)
      })
    } catch (err) {
      const cancelled = entry.controller.signal.aborted
      this.#update(entry, {
        state: cancelled ? 'cancelled' : 'failed',
        endedAt: Date.now(),
        ...(cancelled ? {} : { error: errorMessage(err), ...failureDetail(err) })
      })
    }
    this.#pump()
  }

  /** Redraws running transfers from their meters while any runs; stops itself when none does. */
  #tick(): void {
    if (this.#ticker !== undefined) return
    this.#ticker = setInterval(() => {
      const running = [...this.#entries.values()].filter((e) => e.transfer.state === 'running' && e.meter)
      if (running.length === 0) {
        clearInterval(this.#ticker)
        this.#ticker = undefined
        return
      }
      const now = performance.now()
      for (const entry of running) {
        const meter = entry.meter!
        const remaining = meter.remaining(now)
        const { remaining: _, ...rest } = entry.transfer
        entry.transfer = {
          ...rest,
          bytes: meter.shown(now),
          speed: meter.speed(now),
          ...(remaining === undefined ? {} : { remaining })
        }
      }
      this.#changed()
    }, TICK_MS)
  }

  #update(entry: Entry, patch: Partial<Transfer>): void {
    entry.transfer = { ...entry.transfer, ...patch }
    this.#changed()
  }

  #changed(): void {
    this.#snapshot = [...this.#entries.values()].map((e) => e.transfer)
    for (const listener of this.#listeners) listener()
  }
}

function noteOf(outcome: unknown): { note?: string } {
  const note = (outcome as { note?: unknown } | undefined)?.note
  return typeof note === 'string' ? { note } : {}
}

function failureDetail(err: unknown): { detail?: string } {
  const cause = err instanceof Error ? err.cause : undefined
  return cause === undefined ? {} : { detail: describeError(cause) }
}
