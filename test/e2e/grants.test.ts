import type { Libp2p } from '@libp2p/interface'
import { createClientPeer, getPiece, putPiece, ReceiptSigner, ShoalClient, TrackerClient } from '@shoal/client'
import {
  CID,
  ErrorCode,
  generateContentKey,
  generateObjectNonce,
  loadErasureCodec,
  randomBytes,
  SegmentCodec,
  type ShoalError,
  toBase64Url
} from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'

// Nodes are the last line of defence: whatever a client sends, a node serves and stores only what a valid,
// unused grant meant for it allows, and only bytes that match the piece's CID.
describe('grants enforced by real node processes', () => {
  let net: Testnet
  let client: ShoalClient
  let tracker: TrackerClient
  let peer: Libp2p

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1 })
    client = await ShoalClient.signup({
      tracker: net.tracker.url,
      email: 'grants@example.com',
      password: 'grant-tester-1'
    })
    tracker = new TrackerClient({ url: net.tracker.url, token: client.session().token })
    peer = await createClientPeer()
  })

  afterAll(async () => {
    await peer?.stop()
    await client?.stop()
    await net?.stop()
  })

  async function placedSegment(size = 10_000) {
    const nameHash = toBase64Url(randomBytes(32))
    const begin = await tracker.beginUpload({
      nameHash,
      size,
      meta: 'AAAA',
      wrappedKey: 'AAAA',
      nonce: toBase64Url(generateObjectNonce())
    })
    const codec = await SegmentCodec.create(
      { size, segmentSize: begin.segmentSize, k: begin.k, m: begin.m },
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    const encoded = await codec.encode(0, randomBytes(size))
    const placed = await tracker.placeSegment(begin.uploadId, 0, {
      pieces: encoded.cids.map((cid, index) => ({ index, cid: cid.toString(), size: encoded.pieceSize }))
    })
    return { begin, encoded, placed }
  }

  it('a piece whose bytes do not match its CID is refused on put', async () => {
    const { encoded, placed } = await placedSegment()
    const p = placed.pieces[0]!
    const wrong = encoded.pieces[1]!
    const err = (await putPiece(peer, p.node, { grant: p.grant, cid: encoded.cids[0]!, bytes: wrong }).catch(
      (e) => e
    )) as ShoalError
    expect(err.code).toBe(ErrorCode.PIECE_CORRUPT)
  })

  it('a put grant works once: replay is refused', async () => {
    const { encoded, placed } = await placedSegment()
    const p = placed.pieces[0]!
    const request = { grant: p.grant, cid: encoded.cids[0]!, bytes: encoded.pieces[0]! }
    expect(typeof (await putPiece(peer, p.node, request))).toBe('string')
    expect(((await putPiece(peer, p.node, request).catch((e) => e)) as ShoalError).code).toBe(ErrorCode.GRANT_REPLAYED)
  })

  it('a grant for one node is refused by another', async () => {
    const { encoded, placed } = await placedSegment()
    const [a, b] = placed.pieces as [(typeof placed.pieces)[0], (typeof placed.pieces)[0]]
    const err = (await putPiece(peer, b.node, {
      grant: a.grant,
      cid: encoded.cids[0]!,
      bytes: encoded.pieces[0]!
    }).catch((e) => e)) as ShoalError
    expect(err.code).toBe(ErrorCode.GRANT_WRONG_NODE)
  })

  it('a put grant is not a get grant, a forged grant is refused, and get grants are single-use', async () => {
    await client.put('doc', [randomBytes(5000)], 5000)
    const info = await client.stat('doc')
    const signer = await ReceiptSigner.create()
    const { segments } = await tracker.downloadGrants(info.id, 0, 1, { receiptKey: signer.receiptKey })
    const piece = segments[0]!.pieces[0]!
    const request = { grant: piece.grant, cid: CID.parse(piece.cid), size: Math.ceil((5000 + 16) / 2) }
    const paid = { sign: (bytes: number) => signer.sign(piece.grant, bytes) }
    expect((await getPiece(peer, piece.node, request, paid)).byteLength).toBe(request.size)
    expect(((await getPiece(peer, piece.node, request, paid).catch((e) => e)) as ShoalError).code).toBe(
      ErrorCode.GRANT_REPLAYED
    )

    const [body, sig] = piece.grant.split('.') as [string, string]
    const forged = `${body}.${sig.slice(0, -4)}AAAA`
    expect(((await getPiece(peer, piece.node, { ...request, grant: forged }).catch((e) => e)) as ShoalError).code).toBe(
      ErrorCode.GRANT_INVALID
    )
    const { placed } = await placedSegment()
    const putGrant = placed.pieces.find((p) => p.node.peerId === piece.node.peerId)!
    expect(
      ((await getPiece(peer, piece.node, { ...request, grant: putGrant.grant }).catch((e) => e)) as ShoalError).code
    ).toMatch(/^ERR_GRANT_WRONG_(KIND|PIECE)$/)
  })
})
