/**
 * The one WebAssembly function the SIMD codec needs, assembled here from its opcodes (a few hundred bytes; no
 * toolchain, nothing fetched):
 *
 *   dot(tables, inputs, n, out, len): out[0..len) = XOR over j < n of c_j * input_j[0..len)   (GF(2^8))
 *
 * `inputs` points at n i32 addresses; `tables` at n pairs of 16-byte tables, c_j * x and c_j * (x << 4) for
 * x < 16, so a product is two lane lookups (`i8x16.swizzle`) of a byte's low and high nibble XORed: 32 bytes a
 * step, where reed-solomon-erasure's build looks up one byte at a time. `len` must be a multiple of 32 and
 * every buffer that long (callers pad).
 */

const I32 = 0x7f
const V128 = 0x7b

// Locals: the parameters, then these.
const TABLES = 0
const INPUTS = 1
const N = 2
const OUT = 3
const LEN = 4
const OFF = 5
const J = 6
const P = 7
const T = 8
const ACC = 9
const ACC2 = 10
const V = 11
const V2 = 12
const MASK = 13
const LO = 14
const HI = 15

/** Output bytes per step: two vectors, for two independent chains of lookups. */
export const STEP_BYTES = 32

const get = (i: number) => [0x20, i]
const set = (i: number) => [0x21, i]
const i32Const = (v: number) => [0x41, ...sleb(v)]
const BLOCK = [0x02, 0x40]
const LOOP = [0x03, 0x40]
const END = [0x0b]
const br = (depth: number) => [0x0c, depth]
const brIf = (depth: number) => [0x0d, depth]
const I32_ADD = [0x6a]
const I32_SHL = [0x74]
const I32_GE_U = [0x4f]
/** i32.load, 4-byte aligned. */
const I32_LOAD = [0x28, 2, 0]
const simd = (op: number, ...imm: number[]) => [0xfd, op, ...imm]
/** memarg: alignment exponent, offset. */
const v128Load = (offset: number) => simd(0x00, 0, offset)
const v128Store = (offset: number) => simd(0x0b, 0, offset)
const V128_ZERO = simd(0x0c, ...new Array<number>(16).fill(0))
const I8X16_SPLAT = simd(0x0f)
const AND = simd(0x4e)
const XOR = simd(0x51)
const SWIZZLE = simd(0x0e)
const SHR_U = simd(0x6d)

/** acc ^= lo[v & 15] ^ hi[v >> 4] */
const product = (acc: number, v: number): number[][] => [
  get(acc),
  get(LO),
  get(v),
  get(MASK),
  AND,
  SWIZZLE,
  XOR,
  get(HI),
  get(v),
  i32Const(4),
  SHR_U,
  SWIZZLE,
  XOR,
  set(acc)
]

/** Locals `at` = `base` + (`index` << `shift`). */
const scaled = (at: number, base: number, index: number, shift: number): number[][] => [
  get(base),
  get(index),
  i32Const(shift),
  I32_SHL,
  I32_ADD,
  set(at)
]

function body(): number[] {
  const instructions: number[][] = [
    [...i32Const(15), ...I8X16_SPLAT, ...set(MASK)],
    [...i32Const(0), ...set(OFF)],
    BLOCK,
    LOOP, // one 32-byte step of the output
    [...get(OFF), ...get(LEN), ...I32_GE_U, ...brIf(1)],
    [...V128_ZERO, ...set(ACC), ...V128_ZERO, ...set(ACC2)],
    [...i32Const(0), ...set(J)],
    BLOCK,
    LOOP, // one input
    [...get(J), ...get(N), ...I32_GE_U, ...brIf(1)],
    ...scaled(P, INPUTS, J, 2),
    [...get(P), ...I32_LOAD, ...get(OFF), ...I32_ADD, ...set(P)], // p = inputs[j] + off
    ...scaled(T, TABLES, J, 5), // t = tables + 32 j
    [...get(T), ...v128Load(0), ...set(LO)],
    [...get(T), ...v128Load(16), ...set(HI)],
    [...get(P), ...v128Load(0), ...set(V)],
    [...get(P), ...v128Load(16), ...set(V2)],
    ...product(ACC, V),
    ...product(ACC2, V2),
    [...get(J), ...i32Const(1), ...I32_ADD, ...set(J)],
    br(0),
    END,
    END,
    [...get(OUT), ...get(OFF), ...I32_ADD, ...get(ACC), ...v128Store(0)],
    [...get(OUT), ...get(OFF), ...I32_ADD, ...get(ACC2), ...v128Store(16)],
    [...get(OFF), ...i32Const(STEP_BYTES), ...I32_ADD, ...set(OFF)],
    br(0),
    END,
    END,
    END // the function
  ]
  return instructions.flat()
}

function uleb(value: number): number[] {
  const out: number[] = []
  do {
    let byte = value & 0x7f
    value >>>= 7
    if (value !== 0) byte |= 0x80
    out.push(byte)
  } while (value !== 0)
  return out
}

function sleb(value: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = value & 0x7f
    value >>= 7
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte)
      return out
    }
    out.push(byte | 0x80)
  }
}

const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()]
const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content]
const name = (s: string) => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))]

/** `\0asm`, version 1. */
const MAGIC_AND_VERSION = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]

let bytes: Uint8Array<ArrayBuffer> | undefined

/** The module: exports `memory` (one page to start, grown by the caller) and `dot`. */
export function gfDotModuleBytes(): Uint8Array<ArrayBuffer> {
  if (bytes !== undefined) return bytes
  // Locals after the parameters: OFF, J, P, T (i32), then ACC .. HI (v128).
  const code = [
    ...vec([
      [ACC - OFF, I32],
      [HI - ACC + 1, V128]
    ]),
    ...body()
  ]
  bytes = new Uint8Array([
    ...MAGIC_AND_VERSION,
    // Sections: the function's type, the function, one memory, the exports, the code.
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(
      7,
      vec([
        [...name('memory'), 0x02, 0],
        [...name('dot'), 0x00, 0]
      ])
    ),
    ...section(10, vec([[...uleb(code.length), ...code]]))
  ])
  return bytes
}
