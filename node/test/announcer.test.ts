import type { ContentRouting } from '@libp2p/interface'
import { pieceCid } from '@shoal/core'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { Announcer } from '../src/announcer.ts'

/** Records provides (the real DHT path is covered in dht.test.ts); each provide takes `ms`. */
function recordingRouting(ms = 5): { routing: ContentRouting; provided: string[]; concurrent: number[] } {
  const provided: string[] = []
  const concurrent: number[] = []
  let running = 0
  const routing = {
    async provide(cid: { toString(): string }) {
      running++
      concurrent.push(running)
      await new Promise((r) => setTimeout(r, ms))
      running--
      provided.push(cid.toString())
    }
  } as unknown as ContentRouting
  return { routing, provided, concurrent }
}

async function cids(n: number): Promise<Awaited<ReturnType<typeof pieceCid>>[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => pieceCid(new Uint8Array([i, 1, 2]))))
}

const until = async (check: () => boolean, ms: number): Promise<void> => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('Announcer', () => {
  let announcer: Announcer | undefined
  afterEach(async () => announcer?.stop())

  it('waits while transfers are in flight, then announces everything once the node is quiet', async () => {
    const { routing, provided } = recordingRouting()
    let active = 2
    announcer = new Announcer(
      { contentRouting: routing, logger: pino({ level: 'silent' }), activeTransfers: () => active },
      { quietMs: 50, maxDeferMs: 60_000 }
    )
    announcer.start()
    const pieces = await cids(5)
    for (const cid of pieces) announcer.queue(cid)
    await new Promise((r) => setTimeout(r, 600))
    expect(provided).toEqual([])
    expect(announcer.pending).toBe(5)
    active = 0
    await until(() => provided.length === 5, 5_000)
    expect(new Set(provided)).toEqual(new Set(pieces.map(String)))
    expect(announcer.announced).toBe(5)
  })

  it('a node that never goes quiet still announces once pieces are overdue, one at a time', async () => {
    const { routing, provided, concurrent } = recordingRouting(20)
    announcer = new Announcer(
      { contentRouting: routing, logger: pino({ level: 'silent' }), activeTransfers: () => 1 },
      { quietMs: 10, maxDeferMs: 300, batch: 8 }
    )
    announcer.start()
    for (const cid of await cids(4)) announcer.queue(cid)
    await new Promise((r) => setTimeout(r, 150))
    expect(provided).toEqual([])
    await until(() => provided.length === 4, 5_000)
    expect(Math.max(...concurrent)).toBe(1)
  })

  it('a moment without transfers is not quiet: announcing waits quietMs after the last one', async () => {
    const { routing, provided } = recordingRouting()
    let active = 1
    announcer = new Announcer(
      { contentRouting: routing, logger: pino({ level: 'silent' }), activeTransfers: () => active },
      { quietMs: 800, maxDeferMs: 60_000 }
    )
    announcer.start()
    for (const cid of await cids(3)) announcer.queue(cid)
    await new Promise((r) => setTimeout(r, 900))
    active = 0
    const idleSince = Date.now()
    await new Promise((r) => setTimeout(r, 400))
    expect(provided).toEqual([])
    await until(() => provided.length === 3, 5_000)
    expect(Date.now() - idleSince).toBeGreaterThanOrEqual(700)
  })

  it('a quiet node announces in batches', async () => {
    const { routing, provided, concurrent } = recordingRouting(50)
    announcer = new Announcer(
      { contentRouting: routing, logger: pino({ level: 'silent' }), activeTransfers: () => 0 },
      { quietMs: 10, batch: 4 }
    )
    announcer.start()
    for (const cid of await cids(8)) announcer.queue(cid)
    await until(() => provided.length === 8, 5_000)
    expect(Math.max(...concurrent)).toBe(4)
  })
})
