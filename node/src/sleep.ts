import { setTimeout as delay } from 'node:timers/promises'
import { ErrorCode, ShoalError } from '@shoal/core'

/** Waits `ms`, or rejects with ERR_ABORTED as soon as `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal === undefined ? undefined : { signal })
  } catch (cause) {
    throw new ShoalError(ErrorCode.ABORTED, 'aborted', { cause })
  }
}

/** Exponential backoff with full jitter: spreads retries of many nodes that lost the tracker at once. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20))
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof ShoalError && err.code === ErrorCode.ABORTED)
}
