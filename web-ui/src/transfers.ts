import { describeError } from '@shoal/core'
import { errorMessage } from './format.ts'

export type TransferKind = 'upload' | 'download'
export type TransferState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled'

export interface Transfer {
  id: number
  kind: TransferKind
  name: string
  total: number
  bytes: number
  /** Bytes per second, smoothed. */
  speed: number
  state: TransferState
  error?: string
  /** What went wrong underneath `error`, for a tooltip and bug reports (the cause's own message). */
  detail?: string
  startedAt?: number
  endedAt?: number
}

type Job = (t: { signal: AbortSignal; progress: (bytes: number) => void }) => Promise<void>

interface Entry {
  transfer: Transfer
  controller: AbortController
  job: Job
  lastSample?: { at: number; bytes: number }
}

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
    const startedAt = performance.now()
    this.#update(entry, { state: 'running', startedAt: Date.now() })
    entry.lastSample = { at: startedAt, bytes: 0 }
    try {
      await entry.job({ signal: entry.controller.signal, progress: (bytes) => this.#progress(entry, bytes) })
      const seconds = (performance.now() - startedAt) / 1000
      this.#update(entry, {
        state: 'done',
        bytes: entry.transfer.total,
        speed: seconds > 0 ? entry.transfer.total / seconds : 0,
        endedAt: Date.now()
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

  #progress(entry: Entry, bytes: number): void {
    const now = performance.now()
    const last = entry.lastSample ?? { at: now, bytes: 0 }
    const dt = (now - last.at) / 1000
    if (dt < 0.25 && bytes < entry.transfer.total) {
      entry.transfer = { ...entry.transfer, bytes }
      return
    }
    const instant = dt > 0 ? (bytes - last.bytes) / dt : 0
    const speed = entry.transfer.speed === 0 ? instant : entry.transfer.speed * 0.6 + instant * 0.4
    entry.lastSample = { at: now, bytes }
    this.#update(entry, { bytes, speed })
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

function failureDetail(err: unknown): { detail?: string } {
  const cause = err instanceof Error ? err.cause : undefined
  return cause === undefined ? {} : { detail: describeError(cause) }
}
