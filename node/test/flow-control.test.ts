import type { Stream } from '@libp2p/interface'
import { MiB, PausingReader, randomBytes, sendBounded, slices } from '@shoal/core'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_WRITE_BUFFER_BYTES, READ_HIGH_WATER_BYTES, STREAM_WINDOW_BYTES } from '../src/constants.ts'
import { startClient, startNodePeer, Teardown, waitFor } from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

describe('PausingReader', () => {
  it('holds a fast sender back while nothing is consumed: memory is bounded by the window, not the body', async () => {
    const server = await startNodePeer(teardown.defer)
    const client = await startClient(teardown.defer)

    let reader: PausingReader | undefined
    let inbound: Stream | undefined
    let received = 0
    let peak = 0
    const stop = new AbortController()
    teardown.defer(() => stop.abort())
    await server.handle('/test/slow-reader/1.0.0', (stream) => {
      inbound = stream
      stream.addEventListener('message', (evt) => {
        received += evt.data.byteLength
        peak = Math.max(peak, (reader?.buffered ?? 0) + stream.readBufferLength)
      })
      reader = new PausingReader(stream, { highWaterMark: READ_HIGH_WATER_BYTES, signal: stop.signal })
    })

    const body = randomBytes(64 * MiB)
    const outbound = await client.dialProtocol(server.getMultiaddrs(), '/test/slow-reader/1.0.0')
    const sending = sendBounded(outbound, slices(body, 256 * 1024)).then(() => outbound.close())

    // Nothing consumes: the sender must stall with at most the high-water mark plus one window in flight.
    let last = -1
    let steady = 0
    await waitFor(() => {
      steady = received === last ? steady + 1 : 0
      last = received
      return received >= READ_HIGH_WATER_BYTES && steady >= 20
    }, 'the sender to stall')
    const bound = READ_HIGH_WATER_BYTES + STREAM_WINDOW_BYTES + 1 * MiB
    expect(received).toBeLessThan(bound)
    expect(peak).toBeLessThan(bound)
    expect(inbound?.status).toBe('open')

    // Consuming resumes the flow and every byte arrives in order.
    const got = Buffer.alloc(body.byteLength)
    let at = 0
    for await (const chunk of reader as PausingReader) {
      const bytes = chunk.subarray()
      got.set(bytes, at)
      at += bytes.byteLength
    }
    await sending
    expect(at).toBe(body.byteLength)
    expect(got.equals(body)).toBe(true)
    expect(peak).toBeLessThan(bound)
  })
})

describe('sendBounded', () => {
  it('keeps the write buffer bounded when the reader stops, where send()/onDrain() alone does not', async () => {
    const server = await startNodePeer(teardown.defer)
    const client = await startClient(teardown.defer, { maxStreamWindowSize: 1 * MiB })
    const body = randomBytes(48 * MiB)
    let outbound: Stream | undefined
    let handed = 0
    const writing = new Promise<void>((resolve, reject) => {
      void server.handle('/test/slow-writer/1.0.0', async (stream) => {
        outbound = stream
        const counted = (function* () {
          for (const slice of slices(body, 256 * 1024)) {
            handed += slice.byteLength
            yield slice
          }
        })()
        try {
          await sendBounded(stream, counted, { maxBuffered: MAX_WRITE_BUFFER_BYTES })
          await stream.close()
          resolve()
        } catch (err) {
          reject(err)
        }
      })
    })
    writing.catch(() => undefined)

    const inbound = await client.dialProtocol(server.getMultiaddrs(), '/test/slow-writer/1.0.0')
    inbound.maxReadBufferLength = 64 * MiB
    const it = inbound[Symbol.asyncIterator]()
    let got = 0
    while (got < 4 * MiB) {
      const next = await it.next()
      if (next.done === true) break
      got += next.value.byteLength
    }
    inbound.pause()
    let last = -1
    let steady = 0
    await waitFor(() => {
      steady = handed === last ? steady + 1 : 0
      last = handed
      return steady >= 20
    }, 'the writer to stall')
    // Read so far, plus the reader's 1 MiB window, plus the bound and one slice: nowhere near 48 MiB.
    expect(handed).toBeLessThan(got + 1 * MiB + MAX_WRITE_BUFFER_BYTES + 512 * 1024)
    expect(outbound?.writeBufferLength ?? 0).toBeLessThanOrEqual(MAX_WRITE_BUFFER_BYTES + 256 * 1024)

    inbound.resume()
    for (;;) {
      const next = await it.next()
      if (next.done === true) break
      got += next.value.byteLength
    }
    await writing
    expect(got).toBe(body.byteLength)
  })
})
