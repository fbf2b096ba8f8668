import { createCipheriv, createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { MiB } from './stats.ts'

export interface TestFile {
  path: string
  size: number
  /** sha256 of the whole file, hex. */
  sha256: string
}

const CHUNK = 4 * MiB

/**
 * Writes `size` pseudo-random bytes (the AES-256-CTR keystream under a key derived from the seed and the size:
 * incompressible, fast to make and the same on every run) and returns the file's sha256.
 */
export async function makeTestFile(dir: string, size: number, seed: string): Promise<TestFile> {
  const path = join(dir, `bench-${size}.bin`)
  const key = createHash('sha256').update(`shoal-bench/${seed}/${size}`).digest()
  const keystream = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(CHUNK)
  const hash = createHash('sha256')
  const file = await open(path, 'w')
  try {
    for (let written = 0; written < size; ) {
      const n = Math.min(CHUNK, size - written)
      const chunk = keystream.update(n === CHUNK ? zeros : zeros.subarray(0, n))
      hash.update(chunk)
      await file.write(chunk)
      written += n
    }
  } finally {
    await file.close()
  }
  return { path, size, sha256: hash.digest('hex') }
}

/** One test file per size, made on first use. */
export class TestFiles {
  readonly #dir: string
  readonly #seed: string
  readonly #files = new Map<number, Promise<TestFile>>()

  constructor(dir: string, seed: string) {
    this.#dir = dir
    this.#seed = seed
  }

  get(size: number): Promise<TestFile> {
    let file = this.#files.get(size)
    if (file === undefined) {
      file = makeTestFile(this.#dir, size, this.#seed)
      this.#files.set(size, file)
    }
    return file
  }
}
