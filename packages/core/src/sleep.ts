import { ErrorCode, ShoalError } from './errors.ts'

/** Waits `ms`, or rejects with ERR_ABORTED as soon as `signal` aborts. Works in Node and the browser. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      clearTimeout(timer)
      reject(new ShoalError(ErrorCode.ABORTED, 'aborted', { cause: signal?.reason }))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort)
      resolve()
    }, ms)
    if (signal?.aborted === true) abort()
    else signal?.addEventListener('abort', abort, { once: true })
  })
}

/** Exponential backoff with full jitter: spreads the retries of many parties that failed at once. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20))
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof ShoalError && err.code === ErrorCode.ABORTED)
}
