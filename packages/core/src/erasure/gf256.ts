/**
 * GF(2^8) arithmetic and the coding matrices of reed-solomon-erasure's `galois_8` field (polynomial 0x11d,
 * generator 2), so a codec built on them writes the same parity bytes as the crate: the encoding matrix is the
 * crate's `build_matrix`, a (k+m) x k Vandermonde matrix times the inverse of its top k x k square, whose first
 * k rows are then the identity (a systematic code).
 */

const EXP = new Uint8Array(510)
const LOG = new Uint8Array(256)
{
  let x = 1
  for (let i = 0; i < 255; i++) {
    EXP[i] = x
    LOG[x] = i
    x <<= 1
    if (x & 0x100) x ^= 0x11d
  }
  for (let i = 255; i < 510; i++) EXP[i] = EXP[i - 255]!
}

export function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!
}

function gfInverse(a: number): number {
  if (a === 0) throw new RangeError('zero has no inverse in GF(2^8)')
  return EXP[255 - LOG[a]!]!
}

/** `a` to the power `n`, as the crate's `galois_8::exp` (0^0 = 1). */
function gfPow(a: number, n: number): number {
  if (n === 0) return 1
  if (a === 0) return 0
  return EXP[(LOG[a]! * n) % 255]!
}

/** A matrix over GF(2^8): `rows` arrays of equal length. */
export type GfMatrix = Uint8Array[]

function multiply(a: GfMatrix, b: GfMatrix): GfMatrix {
  const inner = b.length
  const cols = b[0]!.length
  return a.map((row) => {
    const out = new Uint8Array(cols)
    for (let c = 0; c < cols; c++) {
      let sum = 0
      for (let i = 0; i < inner; i++) sum ^= gfMul(row[i]!, b[i]![c]!)
      out[c] = sum
    }
    return out
  })
}

/** Gauss-Jordan inversion of a square matrix; throws if it is singular (never for k rows of a coding matrix). */
export function invert(matrix: GfMatrix): GfMatrix {
  const n = matrix.length
  const work = matrix.map((row, r) => {
    const wide = new Uint8Array(2 * n)
    wide.set(row)
    wide[n + r] = 1
    return wide
  })
  for (let col = 0; col < n; col++) {
    const pivot = work.findIndex((row, r) => r >= col && row[col] !== 0)
    if (pivot < 0) throw new RangeError('matrix is singular')
    ;[work[col], work[pivot]] = [work[pivot]!, work[col]!]
    const top = work[col]!
    const scale = gfInverse(top[col]!)
    for (let c = 0; c < 2 * n; c++) top[c] = gfMul(top[c]!, scale)
    for (let r = 0; r < n; r++) {
      const row = work[r]!
      const factor = row[col]!
      if (r === col || factor === 0) continue
      for (let c = 0; c < 2 * n; c++) row[c]! ^= gfMul(factor, top[c]!)
    }
  }
  return work.map((row) => row.slice(n))
}

const encodingMatrices = new Map<string, GfMatrix>()

/** The crate's (k+m) x k encoding matrix: row i gives shard i as a combination of the k data shards. */
export function encodingMatrix(k: number, m: number): GfMatrix {
  const key = `${k}+${m}`
  let matrix = encodingMatrices.get(key)
  if (matrix === undefined) {
    const vandermonde = Array.from({ length: k + m }, (_, r) => Uint8Array.from({ length: k }, (_, c) => gfPow(r, c)))
    matrix = multiply(vandermonde, invert(vandermonde.slice(0, k)))
    encodingMatrices.set(key, matrix)
  }
  return matrix
}

/**
 * How to rebuild data shards from k present ones: for the shards at `from` (k indexes), the rows giving each
 * data shard in `missing` as a combination of them.
 */
export function decodingRows(k: number, m: number, from: readonly number[], missing: readonly number[]): GfMatrix {
  const encoding = encodingMatrix(k, m)
  const inverse = invert(from.map((i) => encoding[i]!))
  return missing.map((d) => inverse[d]!)
}
