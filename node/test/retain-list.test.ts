import { generateKeyPair } from '@libp2p/crypto/keys'
import { BloomFilter, ErrorCode, signRetainList } from '@shoal/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type ShoalNode } from '../src/index.ts'
import { FakeTracker } from './fake-tracker.ts'
import { type Defer, expectOk, GrantSigner, put, randomPiece, startClient, tempDir } from './helpers.ts'

// Issue 12: a node deleted up to half its pieces on the word of an unsigned retain list fetched over plain HTTP.
// Here a real node (libp2p, piece store) asks a stand-in tracker whose answers the test controls.
describe('retain lists', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = []
  const defer: Defer = (fn) => {
    cleanups.push(fn)
  }
  afterEach(async () => {
    for (const fn of cleanups.reverse()) await fn()
    cleanups.length = 0
  })

  it('acts only on a list the pinned tracker key signed for this node, over the filter it received', async () => {
    const signer = await GrantSigner.create()
    const tracker = await new FakeTracker(signer.key).listen(defer)
    const node: ShoalNode = await createNode({
      listen: ['/ip4/127.0.0.1/tcp/0'],
      trackerPublicKey: signer.key.publicKey,
      trackerUrl: tracker.url,
      dataDir: await tempDir(defer),
      retainGraceMs: 0
    })
    await node.start()
    defer(() => node.stop())
    const client = await startClient(defer)
    const peerId = node.peerId.toString()
    const [kept, garbage] = [await randomPiece(1000), await randomPiece(1000)]
    for (const p of [kept, garbage]) {
      expectOk(await put(client, node, { grant: await signer.sign('put', p.id, peerId), piece: p.id, bytes: p.bytes }))
    }
    const keepOnly = BloomFilter.forCount(1)
    keepOnly.add(kept.id)
    const filter = keepOnly.toJSON()
    const createdAt = Date.now() + 1000

    // Unsigned, signed by someone else, or signed over another filter: refused, nothing deleted.
    const other = await generateKeyPair('Ed25519')
    const forged = [
      { node: peerId, createdAt, pieces: 1, filter },
      {
        node: peerId,
        createdAt,
        pieces: 1,
        filter,
        signature: await signRetainList(other, { node: peerId, createdAt, filter })
      },
      {
        node: peerId,
        createdAt,
        pieces: 1,
        filter,
        signature: await signRetainList(signer.key, {
          node: peerId,
          createdAt,
          filter: BloomFilter.forCount(1).toJSON()
        })
      }
    ]
    for (const answer of forged) {
      tracker.retain = answer
      expect(((await node.collectGarbage().catch((e) => e)) as { code?: string }).code).toBe(ErrorCode.UNAUTHORIZED)
      expect(node.stats.store.pieces).toBe(2)
    }

    // The tracker's own list is acted on.
    tracker.retain = {
      node: peerId,
      createdAt,
      pieces: 1,
      filter,
      signature: await signRetainList(signer.key, { node: peerId, createdAt, filter })
    }
    expect((await node.collectGarbage()).deleted).toBe(1)
    expect(node.stats.store.pieces).toBe(1)
  })
})
