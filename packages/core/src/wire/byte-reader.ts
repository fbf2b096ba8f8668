import { Uint8ArrayList } from 'uint8arraylist'
import { ErrorCode, ShoalError } from '../errors.ts'

type Chunk = Uint8Array | Uint8ArrayList

/**
 * Pull-based reader over a byte stream (a libp2p stream is one). It never buffers more than the chunk the
 * transport handed over plus what the caller asked for, so the transport's own flow control does the rest.
 */
export class ByteReader {
  readonly #source: AsyncIterator<Chunk>
  readonly #buffer = new Uint8ArrayList()
  #ended = false

  constructor(source: AsyncIterable<Chunk>) {
    this.#source = source[Symbol.asyncIterator]()
  }

  get buffered(): number {
    return this.#buffer.byteLength
  }

  /** Reads one more chunk into the buffer; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#ended) return false
    const next = await this.#source.next()
    if (next.done === true) {
      this.#ended = true
      return false
    }
    this.#buffer.append(next.value)
    return true
  }

  /** Unsigned LEB128 varint, as used by multiformats and libp2p length prefixes; at most 4 bytes here. */
  async readVarint(max: number): Promise<number | undefined> {
    let value = 0
    for (let i = 0; i < 4; i++) {
      while (this.#buffer.byteLength <= i) {
        if (!(await this.#fill())) {
          if (i === 0) return undefined
          throw new ShoalError(ErrorCode.TRUNCATED, 'stream ended inside a length prefix')
        }
      }
      const byte = this.#buffer.get(i)
      value += (byte & 0x7f) * 2 ** (7 * i)
      if ((byte & 0x80) === 0) {
        this.#buffer.consume(i + 1)
        if (value > max) throw new ShoalError(ErrorCode.FRAME_TOO_LARGE, `frame of ${value} bytes exceeds ${max}`)
        return value
      }
    }
    throw new ShoalError(ErrorCode.FRAME_TOO_LARGE, `length prefix exceeds ${max}`)
  }

  /** Exactly `length` bytes as one contiguous array. */
  async readExactly(length: number): Promise<Uint8Array> {
    while (this.#buffer.byteLength < length) {
      if (!(await this.#fill())) {
        throw new ShoalError(ErrorCode.TRUNCATED, `stream ended after ${this.#buffer.byteLength} of ${length} bytes`)
      }
    }
    const out = this.#buffer.subarray(0, length)
    this.#buffer.consume(length)
    return out
  }

  /**
   * Yields exactly `length` bytes in the chunks the transport delivers, without gathering them: each chunk is a
   * view of one transport buffer. (Taking `subarray` of the whole buffered list would copy whenever it holds
   * more than one buffer, which it usually does: that was one extra copy of every body byte.)
   */
  async *stream(length: number): AsyncGenerator<Uint8Array> {
    let left = length
    while (left > 0) {
      if (this.#buffer.byteLength === 0 && !(await this.#fill())) {
        throw new ShoalError(ErrorCode.TRUNCATED, `stream ended with ${left} of ${length} bytes missing`)
      }
      const first = this.#buffer[Symbol.iterator]().next().value as Uint8Array
      const chunk = first.byteLength <= left ? first : first.subarray(0, left)
      this.#buffer.consume(chunk.byteLength)
      left -= chunk.byteLength
      yield chunk
    }
  }

  /** Fails if the peer sent more than the protocol allows. */
  async expectEnd(): Promise<void> {
    if (this.#buffer.byteLength === 0 && !(await this.#fill())) return
    throw new ShoalError(ErrorCode.PROTOCOL, 'peer sent unexpected bytes after the message')
  }
}
