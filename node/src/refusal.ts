import type { Stream } from '@libp2p/interface'
import { describeError, encodeFrame, errorResponse, type ShoalError, sendBounded } from '@shoal/core'
import type { Logger } from 'pino'

/**
 * Answers a request the node will not carry out with its error header, so the other side reads one typed
 * error instead of a reset; aborts the stream instead when an answer can no longer be written.
 */
export async function sendRefusal(
  stream: Stream,
  error: ShoalError,
  signal: AbortSignal,
  log: Logger,
  what: string
): Promise<void> {
  if (signal.aborted || stream.writeStatus !== 'writable') {
    stream.abort(error)
    return
  }
  try {
    await sendBounded(stream, [encodeFrame(errorResponse(error))], { signal })
    await stream.close({ signal })
  } catch (closeErr) {
    log.debug({ err: describeError(closeErr) }, `could not send the ${what} refusal`)
    stream.abort(error)
  }
}
