import { spawn } from 'node:child_process'
import { createWriteStream, openSync, readFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { writeToStream } from '../src/file-download.ts'

function segments(count: number, size: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(size).fill(i + 1))
}

async function* from(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c
}

describe('writeToStream', () => {
  it('writes every segment in order to a file descriptor and frees each once written', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'shoal-wts-')), 'out')
    const out = createWriteStream('', { fd: openSync(path, 'w') })
    const chunks = segments(3, 64 * 1024)
    await writeToStream(from(chunks), out)
    await new Promise<void>((resolve) => out.end(resolve))
    const written = readFileSync(path)
    expect(written.byteLength).toBe(3 * 64 * 1024)
    expect([written[0], written[64 * 1024], written[2 * 64 * 1024]]).toEqual([1, 2, 3])
    // Freed: the buffers are detached, so their memory is back with the allocator.
    expect(chunks.map((c) => c.byteLength)).toEqual([0, 0, 0])
  })

  it('leaves the chunks of a stream without a file descriptor intact (it may still hold them)', async () => {
    const out = new PassThrough()
    const received: Buffer[] = []
    out.on('data', (b: Buffer) => received.push(b))
    const chunks = segments(2, 1024)
    await writeToStream(from(chunks), out)
    expect(Buffer.concat(received)).toEqual(Buffer.concat([Buffer.alloc(1024, 1), Buffer.alloc(1024, 2)]))
    expect(chunks.map((c) => c.byteLength)).toEqual([1024, 1024])
  })

  it('fails with the pipe error when the reader goes away, and stops pulling segments', async () => {
    // A real pipe whose reader exits after the first bytes: `shoal get f - | head -c 1`.
    const reader = spawn('head', ['-c', '1'], { stdio: ['pipe', 'ignore', 'inherit'] })
    let pulled = 0
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        pulled++
        yield new Uint8Array(1024 * 1024)
      }
    }
    await expect(writeToStream(endless(), reader.stdin)).rejects.toMatchObject({ code: 'EPIPE' })
    expect(pulled).toBeLessThan(64)
  })
})
