import { createHash, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { createClientPeer, getPiece, ReceiptBook, ReceiptSigner, ShoalClient, TrackerClient } from '@shoal/client'
import { CID, type Grant, type GrantedPiece, type GrantedSegment, peekToken, RECEIPT_INTERVAL_BYTES } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchEarnings } from '../../node/src/earnings.ts'
import { Testnet } from '../src/index.ts'
import { startShoal } from './cli-helpers.ts'
import { sha256Stream, tempDir } from './helpers.ts'

interface Usage {
  egressBytes: number
  storageByteMs: string
}

/** The account's usage as the tracker reports it to its owner. */
async function usageOf(net: Testnet, client: ShoalClient): Promise<Usage> {
  const response = await fetch(`${net.tracker.url}/v1/account/usage`, {
    headers: { authorization: `Bearer ${client.tracker.token}` }
  })
  expect(response.status).toBe(200)
  return (await response.json()) as Usage
}

/**
 * Egress billing end to end: a real client downloads from real nodes, signs a receipt per piece and delivers
 * them to the nodes; each node settles its receipts with the tracker when it stops (and on its interval);
 * the account's usage then shows exactly the piece bytes it received, once.
 */
describe('download receipts, delivered to nodes and settled with the tracker', () => {
  let net: Testnet
  let client: ShoalClient
  const bytes = randomBytes(3 * 1024 * 1024 + 5)

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '1MiB' })
    client = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'reader@example.com', password: 'reader password' },
      { codec: 'local' }
    )
    await client.put('data.bin', [bytes], bytes.byteLength)
  })
  afterAll(async () => {
    await client?.stop()
    await net?.stop()
  })

  const usage = () => usageOf(net, client)

  it('bills the bytes received once, after the nodes settle', async () => {
    expect((await usage()).egressBytes).toBe(0)
    expect(BigInt((await usage()).storageByteMs)).toBeGreaterThanOrEqual(0n)
    const { stream } = await client.get('data.bin')
    const got = await sha256Stream(stream)
    expect(got.size).toBe(bytes.byteLength)
    // Stopping the client delivers its receipts; stopping each node settles them.
    await client.stop()
    for (let i = 0; i < 3; i++) await net.stopNode(i)
    const egress = (await usage()).egressBytes
    // k = 2 pieces per segment, each ceil((plain + 16) / 2): segments of 1 MiB, 1 MiB, 1 MiB and 5 bytes.
    const piece = (plain: number) => Math.ceil((plain + 16) / 2)
    const expected = 2 * (3 * piece(1024 * 1024) + piece(5))
    // Hedged requests may fetch a third piece of a segment: every piece received is billed, none twice.
    expect(egress).toBeGreaterThanOrEqual(expected)
    expect(egress).toBeLessThanOrEqual(expected + 4 * piece(1024 * 1024))
    // Restarted nodes have nothing left to settle: the bill does not move.
    for (let i = 0; i < 3; i++) await net.restartNode(i)
    for (let i = 0; i < 3; i++) await net.stopNode(i)
    expect((await usage()).egressBytes).toBe(egress)
    // What the operator's dashboard shows: this month's earnings as the statement will say. Node 0 served
    // `egressBytes` at 2,000 micro-units per GiB (about 2 per MiB); seconds of storage round down to 0.
    const node0 = net.nodes[0]?.peerId as string
    const statement = (await (await fetch(`${net.tracker.url}/v1/nodes/${node0}/earnings`)).json()) as {
      egressBytes: number
      storageMicros: number
    }
    expect(statement.egressBytes).toBeGreaterThan(0)
    expect(statement.storageMicros).toBe(0)
    const gross = Math.floor((statement.egressBytes * 2000) / 2 ** 30)
    expect(await fetchEarnings(net.tracker.url, node0)).toEqual({
      currency: 'credits',
      thisMonth: gross,
      heldBack: Math.floor((gross * 75) / 100),
      servedToRepairs: 0,
      unpaidGiBMonths: '0.000000'
    })
    expect(await fetchEarnings('http://127.0.0.1:1', 'nobody')).toBeNull()
  })
})

/**
 * The same through the `shoal` command, a process that exits right after its download: its receipts (in band
 * on each piece's stream, the rest delivered when it stops) must reach the nodes before it is gone.
 */
describe('a shoal get process delivers its receipts before it exits', { timeout: 120_000 }, () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  const bytes = randomBytes(2 * 1024 * 1024 + 7)
  const credentials = { email: 'cli-reader@example.com', password: 'cli reader password' }

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '1MiB' })
    work = await tempDir('shoal-cli-receipts-')
  })
  afterAll(async () => {
    await net?.stop()
    await work?.cleanup()
  })

  it('bills what the process received once the nodes settle', async () => {
    const env = {
      SHOAL_HOME: join(work.path, 'home'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: credentials.email,
      SHOAL_PASSWORD: credentials.password
    }
    const shoal = async (args: string[]) => {
      const run = await startShoal(args, { cwd: work.path, env }).done
      expect(run.code, run.stderr).toBe(0)
      return run
    }
    await writeFile(join(work.path, 'data.bin'), bytes)
    await shoal(['signup'])
    await shoal(['put', 'data.bin'])
    await shoal(['get', 'data.bin', 'copy.bin'])
    const copy = await readFile(join(work.path, 'copy.bin'))
    expect(createHash('sha256').update(copy).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'))
    // The process is gone; stopping each node settles what it was handed.
    for (let i = 0; i < 3; i++) await net.stopNode(i)
    const client = await ShoalClient.login({ tracker: net.tracker.url, ...credentials }, { codec: 'local' })
    try {
      const { egressBytes } = await usageOf(net, client)
      const piece = (plain: number) => Math.ceil((plain + 16) / 2)
      expect(egressBytes).toBeGreaterThanOrEqual(2 * (2 * piece(1024 * 1024) + piece(7)))
    } finally {
      await client.stop()
    }
  })
})

/**
 * A get stream that breaks after its last byte but before its last receipt went out (the node vanished, the
 * connection dropped): the piece is in the client's hands and the node must still be paid for all of it. Only
 * then does the ReceiptBook deliver the receipt, over its own protocol; a piece whose receipts all went out on
 * the stream is not delivered twice (session 18). Real node processes and a real tracker; the break is the
 * client's connection to the node cut between the piece's last byte and the signing of its last receipt.
 */
describe('a receipt the get stream could not deliver reaches the node through the ReceiptBook', () => {
  let net: Testnet
  let client: ShoalClient
  let peer: Libp2p

  beforeAll(async () => {
    // Pieces of 1.5 MiB and 8 bytes: an in-band receipt goes out at 1 MiB, the last one at the end.
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '3MiB' })
    client = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'broken-stream@example.com', password: 'broken stream password' },
      { codec: 'local' }
    )
    await client.put('data.bin', [randomBytes(3 * 1024 * 1024)], 3 * 1024 * 1024)
    peer = await createClientPeer()
  })
  afterAll(async () => {
    await peer?.stop()
    await client?.stop()
    await net?.stop()
  })

  it('bills the whole piece once: the partial receipt the node holds is replaced, not added to', async () => {
    const signer = await ReceiptSigner.create()
    const book = new ReceiptBook(signer, async () => peer)
    const api = new TrackerClient({ url: net.tracker.url, token: client.session().token })
    const id = (await client.stat('data.bin')).id
    const granted = await api.downloadGrants(id, 0, 1, { receiptKey: signer.receiptKey })
    const [broken, whole] = (granted.segments[0] as GrantedSegment).pieces as [GrantedPiece, GrantedPiece]
    const size = (peekToken(broken.grant) as Grant).size
    expect(size).toBeGreaterThan(RECEIPT_INTERVAL_BYTES)

    // What the download engine and repairs pass to getPiece (ReceiptBook.forPiece), watched; the broken read's
    // last receipt is signed only after its connection is gone, so the stream cannot carry it.
    const delivered: boolean[] = []
    const read = (piece: GrantedPiece, cut = false) => {
      const paid = book.forPiece(piece.grant, size, () => piece.node)
      return getPiece(
        peer,
        piece.node,
        { grant: piece.grant, cid: CID.parse(piece.cid), size },
        {
          stallMs: 10_000,
          sign: async (n) => {
            if (cut && n === size) {
              for (const c of peer.getConnections()) {
                if (c.remotePeer.toString() === piece.node.peerId) c.abort(new Error('connection lost'))
              }
            }
            return (paid.sign as (bytes: number) => Promise<string>)(n)
          },
          onReceipted: (ok) => {
            delivered.push(ok)
            paid.onReceipted?.(ok)
          }
        }
      )
    }
    expect((await read(broken, true)).byteLength).toBe(size)
    // The honest read on another node: every receipt on its stream, nothing left for the book.
    expect((await read(whole)).byteLength).toBe(size)
    expect(delivered).toEqual([false, true])
    await book.flush()
    for (let i = 0; i < 3; i++) await net.stopNode(i)
    // Both pieces paid in full, once: without the book's delivery the broken one counts its 1 MiB receipt.
    expect((await api.usage()).egressBytes).toBe(2 * size)
  })
})
