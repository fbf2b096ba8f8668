import type { Stream } from '@libp2p/interface'
import { ErrorCode, ShoalError } from '../errors.ts'

/** Bytes a writer may leave queued in a stream before it waits. */
export const DEFAULT_MAX_BUFFERED = 1024 * 1024

/**
 * Writes chunks with a hard bound on what waits in the stream's write buffer. The usual
 * `if (!send()) await onDrain()` is not enough under libp2p 3: a muxer dispatches 'drain' to every stream
 * whenever the shared connection drains, so a stream whose own yamux window is exhausted would keep accepting
 * chunks and buffer a whole piece read from disk. Here a write waits until the buffer is below `maxBuffered`.
 */
export async function sendBounded(
  stream: Stream,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { maxBuffered?: number; signal?: AbortSignal | undefined } = {}
): Promise<number> {
  const maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED
  let sent = 0
  for await (const chunk of chunks) {
    options.signal?.throwIfAborted()
    stream.send(chunk)
    sent += chunk.byteLength
    while (stream.writableNeedsDrain || stream.writeBufferLength > maxBuffered) {
      await writeProgress(stream, options.signal)
    }
  }
  return sent
}

/** Resolves at the next event that may have freed write capacity; rejects if the stream closes or `signal` aborts. */
function writeProgress(stream: Stream, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      stream.removeEventListener('drain', onProgress)
      stream.removeEventListener('idle', onProgress)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onProgress = (): void => done()
    const onClose = (): void => done(new ShoalError(ErrorCode.TRUNCATED, 'stream closed while sending'))
    const onAbort = (): void => done(signal?.reason ?? new ShoalError(ErrorCode.ABORTED, 'aborted'))
    if (signal?.aborted === true) {
      onAbort()
      return
    }
    if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
      onClose()
      return
    }
    stream.addEventListener('drain', onProgress)
    stream.addEventListener('idle', onProgress)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}
