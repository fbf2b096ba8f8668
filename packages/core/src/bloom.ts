import { sha256 } from '@noble/hashes/sha2.js'
import { fromBase64Url, toBase64Url } from './bytes.ts'
import { MiB } from './constants.ts'
import { ErrorCode, ShoalError } from './errors.ts'

/** Largest filter accepted from the wire: about 200 million pieces at 1% false positives. */
export const MAX_BLOOM_BYTES = 256 * MiB
const MAX_HASHES = 32
const SEED_BYTES = 16

export interface BloomFilterJson {
  v: 1
  /** Salts every hash, so a false positive in one filter is (almost surely) not one in the next. */
  seed: string
  hashes: number
  bits: string
}

const encoder = new TextEncoder()

/**
 * A Bloom filter over strings (piece CIDs): a retain list a node can hold in memory whatever it stores, about
 * 1.2 bytes per piece at 1% false positives instead of ~60 for the CID itself. A false positive only keeps a
 * garbage piece until a later filter (new seed) misses it; a piece that was added is always found.
 */
export class BloomFilter {
  readonly bits: Uint8Array
  readonly hashes: number
  readonly seed: Uint8Array
  readonly #size: number

  constructor(bits: Uint8Array, hashes: number, seed: Uint8Array) {
    if (bits.byteLength === 0 || bits.byteLength > MAX_BLOOM_BYTES) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `a Bloom filter has 1 B to ${MAX_BLOOM_BYTES} B of bits`)
    }
    if (!Number.isInteger(hashes) || hashes < 1 || hashes > MAX_HASHES) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `a Bloom filter has 1 to ${MAX_HASHES} hashes, not ${hashes}`)
    }
    this.bits = bits
    this.hashes = hashes
    this.seed = seed
    this.#size = bits.byteLength * 8
  }

  /** The smallest filter that holds `count` items at `falsePositiveRate`, with a random seed. */
  static forCount(count: number, falsePositiveRate = 0.01): BloomFilter {
    if (!(falsePositiveRate > 0 && falsePositiveRate < 1)) throw new RangeError('falsePositiveRate is in (0, 1)')
    const n = Math.max(1, count)
    const bitCount = Math.max(64, Math.ceil((-n * Math.log(falsePositiveRate)) / Math.LN2 ** 2))
    const hashes = Math.min(MAX_HASHES, Math.max(1, Math.round((bitCount / n) * Math.LN2)))
    const seed = crypto.getRandomValues(new Uint8Array(SEED_BYTES))
    return new BloomFilter(new Uint8Array(Math.ceil(bitCount / 8)), hashes, seed)
  }

  static fromJSON(json: unknown): BloomFilter {
    const invalid = (why: string) => new ShoalError(ErrorCode.INVALID_INPUT, `invalid Bloom filter: ${why}`)
    if (typeof json !== 'object' || json === null) throw invalid('not an object')
    const { v, seed, hashes, bits } = json as Partial<Record<keyof BloomFilterJson, unknown>>
    if (v !== 1) throw invalid(`version ${String(v)}`)
    if (typeof seed !== 'string' || typeof bits !== 'string' || typeof hashes !== 'number') {
      throw invalid('needs seed, hashes and bits')
    }
    if (bits.length > Math.ceil((MAX_BLOOM_BYTES * 4) / 3)) throw invalid('too large')
    try {
      return new BloomFilter(fromBase64Url(bits), hashes, fromBase64Url(seed))
    } catch (err) {
      throw err instanceof ShoalError ? err : invalid((err as Error).message)
    }
  }

  add(item: string): void {
    for (const i of this.#indexes(item)) this.bits[i >>> 3] = (this.bits[i >>> 3] as number) | (1 << (i & 7))
  }

  has(item: string): boolean {
    for (const i of this.#indexes(item)) if (((this.bits[i >>> 3] as number) & (1 << (i & 7))) === 0) return false
    return true
  }

  toJSON(): BloomFilterJson {
    return { v: 1, seed: toBase64Url(this.seed), hashes: this.hashes, bits: toBase64Url(this.bits) }
  }

  /** Double hashing (Kirsch and Mitzenmacher): k indexes from two 32-bit halves of one salted SHA-256. */
  #indexes(item: string): number[] {
    const text = encoder.encode(item)
    const input = new Uint8Array(this.seed.byteLength + text.byteLength)
    input.set(this.seed)
    input.set(text, this.seed.byteLength)
    const digest = sha256(input)
    const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength)
    const h1 = view.getUint32(0, true)
    const h2 = (view.getUint32(4, true) | 1) >>> 0
    const out: number[] = []
    for (let i = 0; i < this.hashes; i++) out.push((h1 + i * h2) % this.#size)
    return out
  }
}
