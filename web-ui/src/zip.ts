/**
 * A streaming ZIP writer for "download these as one file": entries are stored, not deflated (photos and videos
 * are compressed already, and deflating in the page would cost more CPU than the download), and each entry's
 * CRC-32 and sizes follow its data in a data descriptor, so nothing is buffered: bytes flow from the storage
 * nodes, through the decryption, into the zip and to disk. Without ZIP64, an archive is limited to 4 GiB.
 */
export const ZIP_LIMIT = 0xffff_ffff

export interface ZipEntry {
  /** Path inside the archive ("Photos/beach.jpg"). */
  name: string
  size: number
  modified: number
  open: () => Promise<AsyncIterable<Uint8Array>>
}

export class ZipTooLargeError extends Error {
  readonly code = 'ERR_ZIP_TOO_LARGE'
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(crc: number, bytes: Uint8Array): number {
  let c = crc ^ 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function dosDateTime(ms: number): { time: number; date: number } {
  const d = new Date(ms)
  const year = Math.max(1980, d.getFullYear())
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate()
  }
}

/** General-purpose flags: bit 3 (sizes and CRC in a data descriptor after the data), bit 11 (UTF-8 names). */
const FLAGS = 0x0808

/** The archive's size, known before any byte is written (stored entries): the download can show progress. */
export function zipSize(entries: readonly ZipEntry[]): number {
  let total = 22
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name).length
    total += 30 + name + e.size + 16 + 46 + name
  }
  return total
}

export async function* zipStream(entries: readonly ZipEntry[]): AsyncGenerator<Uint8Array> {
  if (zipSize(entries) > ZIP_LIMIT) throw new ZipTooLargeError('a zip download is limited to 4 GiB: pick fewer files')
  const central: Uint8Array[] = []
  let offset = 0
  for (const entry of entries) {
    const name = new TextEncoder().encode(entry.name)
    const { time, date } = dosDateTime(entry.modified)
    const local = new Uint8Array(30 + name.length)
    const lv = new DataView(local.buffer)
    lv.setUint32(0, 0x04034b50, true)
    lv.setUint16(4, 20, true)
    lv.setUint16(6, FLAGS, true)
    lv.setUint16(8, 0, true) // stored
    lv.setUint16(10, time, true)
    lv.setUint16(12, date, true)
    lv.setUint16(26, name.length, true)
    local.set(name, 30)
    // Lengths are read before each yield: the consumer may transfer (detach) a chunk's buffer once it has it.
    const headerLength = local.length
    yield local
    let crc = 0
    let size = 0
    for await (const chunk of await entry.open()) {
      crc = crc32(crc, chunk)
      size += chunk.length
      yield chunk
    }
    if (size !== entry.size) throw new Error(`${entry.name}: expected ${entry.size} bytes, got ${size}`)
    const descriptor = new Uint8Array(16)
    const dv = new DataView(descriptor.buffer)
    dv.setUint32(0, 0x08074b50, true)
    dv.setUint32(4, crc, true)
    dv.setUint32(8, size, true)
    dv.setUint32(12, size, true)
    yield descriptor
    const header = new Uint8Array(46 + name.length)
    const cv = new DataView(header.buffer)
    cv.setUint32(0, 0x02014b50, true)
    cv.setUint16(4, 20, true)
    cv.setUint16(6, 20, true)
    cv.setUint16(8, FLAGS, true)
    cv.setUint16(10, 0, true)
    cv.setUint16(12, time, true)
    cv.setUint16(14, date, true)
    cv.setUint32(16, crc, true)
    cv.setUint32(20, size, true)
    cv.setUint32(24, size, true)
    cv.setUint16(28, name.length, true)
    cv.setUint32(42, offset, true)
    header.set(name, 46)
    central.push(header)
    offset += headerLength + size + 16
  }
  let centralSize = 0
  for (const header of central) {
    centralSize += header.length
    yield header
  }
  const end = new Uint8Array(22)
  const ev = new DataView(end.buffer)
  ev.setUint32(0, 0x06054b50, true)
  ev.setUint16(8, entries.length, true)
  ev.setUint16(10, entries.length, true)
  ev.setUint32(12, centralSize, true)
  ev.setUint32(16, offset, true)
  yield end
}
