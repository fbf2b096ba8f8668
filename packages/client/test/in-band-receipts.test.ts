import type { Stream } from '@libp2p/interface'
import { RECEIPT_INTERVAL_BYTES } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { InBandReceipts } from '../src/p2p/in-band-receipts.ts'

/**
 * The client's end of a get stream as InBandReceipts uses it: what it sent (one JSON frame per receipt), whether
 * it closed, and a node that resets the stream before a chosen receipt or refuses the close.
 */
function fakeStream(options: { resetAtSend?: number; closeFails?: boolean } = {}) {
  const sent: { receipt: string }[] = []
  let closed = false
  const stream = {
    writableNeedsDrain: false,
    writeBufferLength: 0,
    send(frame: Uint8Array): boolean {
      if (sent.length + 1 === options.resetAtSend) throw new Error('stream reset by the node')
      // A frame is a one-byte varint length (these are short) and JSON.
      sent.push(JSON.parse(new TextDecoder().decode(frame.subarray(1))) as { receipt: string })
      return true
    },
    async close(): Promise<void> {
      if (options.closeFails === true) throw new Error('stream reset by the node')
      closed = true
    }
  }
  return { stream: stream as unknown as Stream, sent, closed: () => closed }
}

const sign = async (bytes: number): Promise<string> => `receipt-for-${bytes}`

describe('in-band receipts on a get stream', () => {
  it('sends one every interval and one for the total, then closes: the node holds the receipt for all of it', async () => {
    const end = fakeStream()
    const receipts = new InBandReceipts(end.stream, sign, {})
    const total = 2 * RECEIPT_INTERVAL_BYTES + 5
    for (let got = 64 * 1024; got < total; got += 64 * 1024) receipts.received(got)
    expect(await receipts.finish(total)).toBe(true)
    expect(end.sent.map((f) => f.receipt)).toEqual([
      `receipt-for-${RECEIPT_INTERVAL_BYTES}`,
      `receipt-for-${2 * RECEIPT_INTERVAL_BYTES}`,
      `receipt-for-${total}`
    ])
    expect(end.closed()).toBe(true)
  })

  it('says so when the node reset the stream before the last receipt went out, and does not close it', async () => {
    const end = fakeStream({ resetAtSend: 2 })
    const receipts = new InBandReceipts(end.stream, sign, {})
    receipts.received(RECEIPT_INTERVAL_BYTES)
    expect(await receipts.finish(RECEIPT_INTERVAL_BYTES + 7)).toBe(false)
    expect(end.sent.map((f) => f.receipt)).toEqual([`receipt-for-${RECEIPT_INTERVAL_BYTES}`])
    expect(end.closed()).toBe(false)
  })

  it('says so when the last receipt was sent but the stream could not be closed cleanly', async () => {
    const end = fakeStream({ closeFails: true })
    const receipts = new InBandReceipts(end.stream, sign, {})
    expect(await receipts.finish(1000)).toBe(false)
    expect(end.sent.map((f) => f.receipt)).toEqual(['receipt-for-1000'])
  })

  it('says so when signing failed', async () => {
    const end = fakeStream()
    const receipts = new InBandReceipts(
      end.stream,
      async () => {
        throw new Error('no key')
      },
      {}
    )
    expect(await receipts.finish(1000)).toBe(false)
    expect(end.sent).toEqual([])
  })
})
