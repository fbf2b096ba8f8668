import { randomBytes } from 'node:crypto'
import type { Libp2p } from '@libp2p/interface'
import { createClientPeer, getPiece, ReceiptSigner, ShoalClient, TrackerClient } from '@shoal/client'
import { CID, ErrorCode, type Grant, type GrantedPiece, type GrantedSegment, peekToken, signGrant } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadOrCreateTrackerKey } from '../../tracker/src/tracker-key.ts'
import { Testnet } from '../src/index.ts'
import { codeOf } from './helpers.ts'

/**
 * Issue 12: receipt keys bound to who asked for the grants. Against a real tracker and real nodes: another
 * account cannot use a key, and a receipt whose key was not granted to the grant's asker is served by the node
 * (it cannot know) but never settled or billed.
 */
describe('adversary: receipt keys bound to accounts', { timeout: 240_000 }, () => {
  let net: Testnet
  let alice: ShoalClient
  let bob: ShoalClient
  let peer: Libp2p
  const size = 600_000

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '1MiB' })
    const open = (email: string) =>
      ShoalClient.signup({ tracker: net.tracker.url, email, password: `${email} password` }, { codec: 'local' })
    alice = await open('alice@example.com')
    bob = await open('bob@example.com')
    await alice.put('a.bin', [randomBytes(size)], size)
    await bob.put('b.bin', [randomBytes(size)], size)
    peer = await createClientPeer()
  })
  afterAll(async () => {
    await peer?.stop()
    await alice?.stop()
    await bob?.stop()
    await net?.stop()
  })

  it("another account cannot use a key; receipts under a key not granted to the grant's asker are not paid", async () => {
    const aliceApi = new TrackerClient({ url: net.tracker.url, token: alice.session().token })
    const bobApi = new TrackerClient({ url: net.tracker.url, token: bob.session().token })
    const aliceKey = await ReceiptSigner.create()
    const aliceObject = (await alice.stat('a.bin')).id
    const granted = await aliceApi.downloadGrants(aliceObject, 0, 1, { receiptKey: aliceKey.receiptKey })
    const [honest, other] = (granted.segments[0] as GrantedSegment).pieces as [GrantedPiece, GrantedPiece]
    const pieceBytes = (peekToken(honest.grant) as Grant).size

    // Bob presents Alice's key: refused by the tracker.
    const bobObject = (await bob.stat('b.bin')).id
    expect(await codeOf(bobApi.downloadGrants(bobObject, 0, 1, { receiptKey: aliceKey.receiptKey }))).toBe(
      ErrorCode.RECEIPT_KEY_TAKEN
    )

    // A grant carrying Alice's key in Bob's name (as a tracker that did not bind keys could have signed): the
    // node serves it and queues Alice-signed receipts, and settlement must refuse them.
    // The tracker's own key file, read as the tracker reads it (it is 0600, so nothing is logged).
    const quiet = { warn: () => {}, info: () => {} } as unknown as Parameters<typeof loadOrCreateTrackerKey>[1]
    const trackerKey = await loadOrCreateTrackerKey(net.tracker.dataDir, quiet)
    const base = peekToken(honest.grant) as Grant
    const now = Date.now()
    const inBobsName = await signGrant(trackerKey, {
      ...base,
      serial: 'in-bobs-name-0001',
      iat: now,
      exp: now + 600_000,
      by: `a:${(await bobApi.account()).id}`
    })
    const read = (grant: string, piece: GrantedPiece, signer: ReceiptSigner) =>
      getPiece(
        peer,
        piece.node,
        { grant, cid: CID.parse(piece.cid), size: pieceBytes },
        { sign: (n) => signer.sign(grant, n), stallMs: 10_000 }
      )
    expect((await read(inBobsName, honest, aliceKey)).byteLength).toBe(pieceBytes)
    // The honest read, for comparison: paid.
    expect((await read(honest.grant, honest, aliceKey)).byteLength).toBe(pieceBytes)
    // A key never granted: within the node's credit (this piece is smaller) it serves, but its settlement queue
    // drops receipts that the grant's key did not sign, so nothing of it is paid.
    const stranger = await ReceiptSigner.create()
    await read(other.grant, other, stranger).catch(() => undefined)

    // Stopping the nodes settles what they queued; Alice is billed for the honest piece only.
    for (let i = 0; i < 3; i++) await net.stopNode(i)
    expect((await aliceApi.usage()).egressBytes).toBe(pieceBytes)
    expect((await bobApi.usage()).egressBytes).toBe(0)
  })
})
