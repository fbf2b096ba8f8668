/**
 * The page's side of the service worker's byte streams (public/sw.js): the worker sends 'pull' for each chunk it
 * wants and 'cancel' if its consumer goes away; the page answers with 'chunk', 'end' or 'error'.
 */

/** Registers a new port with the service worker and waits until the worker has it. */
export async function registerPort(worker: ServiceWorker, message: Record<string, unknown>): Promise<MessagePort> {
  const channel = new MessageChannel()
  const port = channel.port1
  const registered = new Promise<void>((resolve) => {
    port.onmessage = (e) => {
      if ((e.data as { type?: string }).type === 'registered') resolve()
    }
  })
  worker.postMessage(message, [channel.port2])
  await registered
  return port
}

/**
 * Serves `chunks` over `port` one chunk per pull. Resolves when all were sent; rejects when the source fails
 * (the worker errors its stream, so the consumer sees a failure, not a short file), on `signal`, or when the
 * consumer cancels.
 */
export function servePort(port: MessagePort, chunks: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<void> {
  const iterator = chunks[Symbol.asyncIterator]()
  return new Promise<void>((resolve, reject) => {
    let ended = false
    const fail = (err: unknown): void => {
      if (ended) return
      ended = true
      void iterator.return?.()
      port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) })
      reject(err)
    }
    if (signal.aborted) return fail(signal.reason)
    signal.addEventListener('abort', () => fail(signal.reason), { once: true })
    port.onmessage = async (e) => {
      const type = (e.data as { type?: string }).type
      if (type === 'cancel') return fail(new DOMException('the consumer cancelled the stream', 'AbortError'))
      if (type !== 'pull' || ended) return
      try {
        const next = await iterator.next()
        if (ended) return
        if (next.done === true) {
          ended = true
          port.postMessage({ type: 'end' })
          resolve()
          return
        }
        // Move the chunk's buffer to the worker; a view into a larger buffer is copied first.
        const whole = next.value.byteOffset === 0 && next.value.byteLength === next.value.buffer.byteLength
        const bytes = whole ? next.value : next.value.slice()
        port.postMessage({ type: 'chunk', chunk: bytes.buffer }, [bytes.buffer as ArrayBuffer])
      } catch (err) {
        fail(err)
      }
    }
  })
}
