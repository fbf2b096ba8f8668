import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { basename } from 'node:path'

/**
 * A single-file BitTorrent v1 metainfo (.torrent) for `path`, built here with node:crypto's SHA-1 instead of by
 * WebTorrent, whose hashing read a 256 MiB file at a few MB/s on this machine. Piece length as WebTorrent's
 * create-torrent picks it (the piece-length package: about size / 1024, a power of two, at least 16 KiB), so the
 * swarm behaves as one WebTorrent made itself would. Private, no announce list: peers are given explicitly.
 */
export async function makeTorrent(path: string, size: number, name = basename(path)): Promise<Buffer> {
  const pieceLength = Math.max(16_384, 1 << ((Math.log2(size < 1024 ? 1 : size / 1024) + 0.5) | 0))
  const pieces: Buffer[] = []
  let hash = createHash('sha1')
  let filled = 0
  for await (const chunk of createReadStream(path, { highWaterMark: pieceLength })) {
    let data = chunk as Buffer
    while (data.byteLength > 0) {
      const take = Math.min(pieceLength - filled, data.byteLength)
      hash.update(data.subarray(0, take))
      filled += take
      data = data.subarray(take)
      if (filled === pieceLength) {
        pieces.push(hash.digest())
        hash = createHash('sha1')
        filled = 0
      }
    }
  }
  if (filled > 0) pieces.push(hash.digest())
  return bencode({
    info: {
      length: size,
      name: Buffer.from(name),
      'piece length': pieceLength,
      pieces: Buffer.concat(pieces),
      private: 1
    }
  })
}

type Bencodable = number | Buffer | { [key: string]: Bencodable }

/** Bencoding (BEP 3): integers i<n>e, byte strings <length>:<bytes>, dictionaries d...e with sorted keys. */
export function bencode(value: Bencodable): Buffer {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`bencode: ${value} is not an integer`)
    return Buffer.from(`i${value}e`)
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([Buffer.from(`${value.byteLength}:`), value])
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  return Buffer.concat([
    Buffer.from('d'),
    ...keys.flatMap((k) => [bencode(Buffer.from(k)), bencode(value[k] as Bencodable)]),
    Buffer.from('e')
  ])
}
