import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ShoalClient } from '@shoal/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ReadyProcess, spawnReady, stopProcess, Testnet } from '../src/index.ts'
import { waitFor } from './helpers.ts'

/**
 * Two tracker processes on one PostgreSQL database in front of real storage nodes (node i reports to tracker
 * i mod 2), every step of the user's alternating between them: uploads, downloads, a node killed and its
 * pieces repaired, the month closed. What one tracker writes the other must serve.
 */
const TRACKER_BIN = fileURLToPath(new URL('../../tracker/bin/shoal-tracker.js', import.meta.url))
const TRACKER_SRC_BIN = fileURLToPath(new URL('../../tracker/src/bin.ts', import.meta.url))
const SHIFTED_CLOCK = fileURLToPath(new URL('../src/shifted-clock.ts', import.meta.url))
const PG = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres']
const DB = `shoal_e2e_two_${process.pid}_${randomBytes(4).toString('hex')}`
const URL_ = `postgres://postgres@127.0.0.1:5432/${DB}`
const K = 2
const M = 2
const EMAIL = 'two-trackers@example.com'
const PASSWORD = 'long enough pw'

let net: Testnet
/** One client per tracker, the same account. */
let clients: [ShoalClient, ShoalClient]
const files = new Map<string, Buffer>()
/** Nodes that held a piece this month (as the trackers placed them): each is paid for it. */
const holders = new Set<string>()
let step = 0
/** The client of the next step: the trackers in turn. */
const next = (): ShoalClient => clients[step++ % 2] as ShoalClient

beforeAll(async () => {
  execFileSync('createdb', [...PG, DB])
  execFileSync(process.execPath, [TRACKER_BIN, 'migrate', '--postgres', URL_], { stdio: 'ignore' })
  net = await Testnet.start({
    nodes: 6,
    trackers: 2,
    k: K,
    m: M,
    segmentSize: '256KiB',
    trackerArgs: [
      '--postgres',
      URL_,
      // Repair on: a segment is repaired once it is down to k + 1 healthy pieces, i.e. at its first lost one.
      '--repair-interval',
      '2s',
      '--repair-margin',
      '1',
      '--repair-offline-grace',
      '0'
    ]
  })
  const first = await ShoalClient.signup({ tracker: net.trackers[0]!.url, email: EMAIL, password: PASSWORD })
  const second = await ShoalClient.login({ tracker: net.trackers[1]!.url, email: EMAIL, password: PASSWORD })
  clients = [first, second]
}, 240_000)

afterAll(async () => {
  for (const c of clients ?? []) await c.stop()
  await net?.stop()
  execFileSync('dropdb', [...PG, '--if-exists', '--force', DB])
})

async function download(client: ShoalClient, name: string): Promise<Buffer> {
  const { stream } = await client.get(name)
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Each segment's pieces as a tracker hands them out for download: node peer ids by piece index. */
async function placement(client: ShoalClient, name: string): Promise<string[][]> {
  const info = await client.stat(name)
  const { segments } = await client.tracker.downloadGrants(info.id, 0, info.segmentCount)
  const nodes = segments.map((s) => s.pieces.map((p) => p.node.peerId))
  for (const n of nodes.flat()) holders.add(n)
  return nodes
}

describe('two trackers on one PostgreSQL database, real storage nodes', { timeout: 180_000 }, () => {
  it('uploads through either tracker and downloads through the other, byte for byte', async () => {
    for (const [name, size] of [
      ['a.bin', 700 * 1024 + 17],
      ['b.bin', 300 * 1024],
      ['c.bin', 5_000]
    ] as const) {
      const bytes = randomBytes(size)
      await next().put(name, [bytes], size)
      files.set(name, bytes)
    }
    for (const [name, bytes] of files) expect((await download(next(), name)).equals(bytes), name).toBe(true)
    for (const name of files.keys()) await placement(next(), name)
    // Both trackers list the same objects.
    const listed = await Promise.all(clients.map(async (c) => (await c.list()).map((o) => o.name).sort()))
    expect(listed).toEqual([
      ['a.bin', 'b.bin', 'c.bin'],
      ['a.bin', 'b.bin', 'c.bin']
    ])
  })

  it('repairs the pieces of a killed node, and both trackers serve the new placement', async () => {
    const holder = (await placement(next(), 'a.bin'))[0]?.[0] as string
    const index = net.nodes.findIndex((n) => n.peerId === holder)
    expect(index).toBeGreaterThanOrEqual(0)
    await net.killNode(index)
    for (const name of files.keys()) {
      await waitFor(
        `${name} repaired away from the killed node`,
        async () => {
          const segments = await placement(next(), name)
          const healed = segments.every((nodes) => nodes.length === K + M && !nodes.includes(holder))
          return healed ? true : undefined
        },
        120_000
      )
    }
    for (const [name, bytes] of files) expect((await download(next(), name)).equals(bytes), name).toBe(true)
    // The other tracker hands out the same placement.
    const [a, b] = await Promise.all(clients.map((c) => placement(c, 'a.bin')))
    expect(a).toEqual(b)
  })

  it('closes the month: a tracker whose clock is in the next month bills it, the others serve the result', async () => {
    const now = new Date()
    const period = now.toISOString().slice(0, 7)
    // An hour and a minute into the next month: past the grace the month close waits for.
    const shift = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) + 3_660_000 - Date.now()
    let closer: ReadyProcess | undefined
    try {
      closer = await spawnReady(
        SHIFTED_CLOCK,
        [
          TRACKER_SRC_BIN,
          ...['start', '--data', net.tracker.dataDir, '--port', '0', '--postgres', URL_],
          // Only the month close: with its clock a month ahead every node looks long gone.
          ...['--audit-interval', '0', '--repair-interval', '0', '--k', String(K), '--m', String(M)]
        ],
        {
          logFile: join(net.dir, 'logs', 'tracker-next-month.log'),
          label: 'tracker in the next month',
          env: { SHOAL_TEST_CLOCK_SHIFT_MS: String(shift) }
        }
      )
      // A fresh session: the closer's sweep, a month ahead, may have ended the old ones.
      const reader = await ShoalClient.login({
        tracker: net.trackers[step++ % 2]!.url,
        email: EMAIL,
        password: PASSWORD
      })
      try {
        const invoice = await waitFor(`the invoice of ${period}`, async () =>
          (await reader.tracker.invoices()).invoices.find((i) => i.period === period)
        )
        expect(BigInt(invoice.storageByteMs)).toBeGreaterThan(0n)
      } finally {
        await reader.stop()
      }
      // Every node that held pieces this month gets a statement, the killed one included.
      expect(holders.has(net.nodes.find((n) => !n.running)?.peerId as string)).toBe(true)
      for (const node of holders) {
        const { payouts } = await next().tracker.payouts(node)
        const statement = payouts.find((p) => p.period === period)
        expect(statement, node).toBeDefined()
        expect(BigInt(statement?.storageByteMs ?? '0')).toBeGreaterThan(0n)
      }
    } finally {
      if (closer !== undefined) await stopProcess(closer)
    }
  })
})
