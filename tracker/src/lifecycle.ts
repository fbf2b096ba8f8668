import { setTimeout as sleep } from 'node:timers/promises'
import { describeError } from '@shoal/core'
import type { Logger } from 'pino'

/**
 * A long-lived part: start() begins its work, stop() ends it and waits until nothing of it runs. Both are
 * idempotent. A composite starts its parts in order and stops them in reverse (components.ts).
 */
export interface Startable {
  start(): void | Promise<void>
  stop(): Promise<void>
}

export interface PeriodicTaskInit {
  /** For logs: "<name> failed". */
  name: string
  /** Pause between the end of one run and the start of the next; 0 or less: never runs. */
  intervalMs: number
  /** One pass. It should honour the signal: stop() aborts it and waits for it. */
  run: (signal: AbortSignal) => Promise<unknown>
  logger: Logger
  /** Run once at start, before the first pause (default: pause first). */
  immediate?: boolean
  /** Checked before each run; false skips that tick (another tracker holds the lease, say). */
  when?: () => boolean
}

/**
 * The one shape of every background loop of the tracker (Storj's sync2.Cycle): run, pause, run again; a failed
 * run is logged and retried at the next tick, never ends the loop; stop() aborts the pause or the run in
 * progress and waits for it. `trigger()` runs a pass now, outside the schedule (tests, an operator).
 */
export class PeriodicTask implements Startable {
  readonly #init: PeriodicTaskInit
  #controller: AbortController | undefined
  #loop: Promise<void> | undefined

  constructor(init: PeriodicTaskInit) {
    this.#init = init
  }

  get running(): boolean {
    return this.#controller !== undefined
  }

  start(): void {
    if (this.#controller !== undefined || this.#init.intervalMs <= 0) return
    const controller = new AbortController()
    this.#controller = controller
    this.#loop = this.#run(controller.signal)
  }

  async stop(): Promise<void> {
    this.#controller?.abort()
    this.#controller = undefined
    const loop = this.#loop
    this.#loop = undefined
    await loop
  }

  /** One pass now, with errors thrown to the caller. */
  trigger(signal?: AbortSignal): Promise<unknown> {
    return this.#init.run(signal ?? new AbortController().signal)
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { intervalMs, immediate, when, run, logger, name } = this.#init
    for (let first = true; !signal.aborted; first = false) {
      if (!(first && immediate === true)) {
        try {
          await sleep(intervalMs, undefined, { signal })
        } catch {
          return
        }
      }
      if (when !== undefined && !when()) continue
      try {
        await run(signal)
      } catch (err) {
        if (!signal.aborted) logger.error({ err: describeError(err) }, `${name} failed`)
      }
    }
  }
}

/** Starts parts in order; if one fails, stops those already started (in reverse) and throws. */
export async function startAll(parts: readonly Startable[]): Promise<void> {
  const started: Startable[] = []
  try {
    for (const part of parts) {
      await part.start()
      started.push(part)
    }
  } catch (err) {
    await stopAll(started)
    throw err
  }
}

/** Stops parts in reverse order, each even if an earlier one failed; throws the first failure at the end. */
export async function stopAll(parts: readonly Startable[]): Promise<void> {
  let failure: unknown
  for (const part of [...parts].reverse()) {
    try {
      await part.stop()
    } catch (err) {
      failure ??= err
    }
  }
  if (failure !== undefined) throw failure
}
