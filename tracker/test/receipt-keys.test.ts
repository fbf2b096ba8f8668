import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { ReceiptSigner } from '@shoal/client'
import {
  type DownloadGrantsResponse,
  ErrorCode,
  type Grant,
  type GrantedPiece,
  peekToken,
  type SettlementResponse,
  type ShareView,
  signGrant,
  signToken,
  toBase64Url
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { KEY_FILE } from '../src/tracker-key.ts'
import { expectError, expectOk, FakeNode, signup, startTracker, type TestTracker, uploadObject } from './helpers.ts'

async function settle(node: FakeNode, t: TestTracker, receipts: { grant: string; receipt: string }[]) {
  const token = await signToken(node.key, { v: 1, kind: 'settlement', node: node.peerId, at: t.clock.now(), receipts })
  return expectOk(await t.request<SettlementResponse>('POST', '/v1/nodes/settlements', { body: { token } }))
}

describe('receipt keys bound to who asked for the grants (issue 12)', () => {
  it('a key is one account or link; receipts are paid only for grants whose asker holds their key', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 4)
    const alice = await signup(t)
    const bob = await signup(t)
    const aliceId = alice.session.account.id
    const bobId = bob.session.account.id
    const a = await uploadObject(t, alice.token, nodes, { size: 3000 })
    const b = await uploadObject(t, bob.token, nodes, { size: 3000 })
    const grantsOf = async (token: string, objectId: string, receiptKey: string) =>
      t.request<DownloadGrantsResponse>('POST', `/v1/objects/${objectId}/grants`, {
        token,
        body: { from: 0, to: 1, receiptKey }
      })

    // Alice downloads her file with her key: the key is hers now, and every grant names her as the asker.
    const aliceKey = await ReceiptSigner.create()
    const pieces = expectOk(await grantsOf(alice.token, a.object.id, aliceKey.receiptKey)).segments[0]
      ?.pieces as GrantedPiece[]
    expect(peekToken((pieces[0] as GrantedPiece).grant)).toMatchObject({
      rk: aliceKey.receiptKey,
      by: `a:${aliceId}`,
      account: aliceId
    })

    // Bob, and a visitor of Bob's share link, cannot ask for grants with Alice's key.
    expectError(await grantsOf(bob.token, b.object.id, aliceKey.receiptKey), 409, ErrorCode.RECEIPT_KEY_TAKEN)
    const share = expectOk(
      await t.request<ShareView>('POST', '/v1/shares', {
        token: bob.token,
        body: { objectId: b.object.id, meta: toBase64Url(new Uint8Array(40)) }
      }),
      201
    )
    expectError(
      await t.request('POST', `/v1/shares/${share.id}/grants`, {
        body: { from: 0, to: 1, receiptKey: aliceKey.receiptKey }
      }),
      409,
      ErrorCode.RECEIPT_KEY_TAKEN
    )
    // Alice's key keeps working for Alice, through any number of requests.
    expectOk(await grantsOf(alice.token, a.object.id, aliceKey.receiptKey))

    // The attack on settlement: grants carrying Alice's key that Alice never asked for. The tracker signs none
    // any more; a grant from before binding (no asker) or naming another asker stands for one.
    const trackerKey = privateKeyFromProtobuf(await readFile(join(t.dir, KEY_FILE)))
    const piece = pieces[0] as GrantedPiece
    const node = nodes.find((n) => n.peerId === piece.node.peerId) as FakeNode
    const base = peekToken(piece.grant) as Grant
    const now = t.clock.now()
    const forgedFor = async (by: string | undefined, serial: string): Promise<string> => {
      const { by: _by, ...rest } = base
      return signGrant(trackerKey, {
        ...rest,
        serial,
        iat: now,
        exp: now + 60_000,
        ...(by === undefined ? {} : { by })
      })
    }
    const asBob = await forgedFor(`a:${bobId}`, 'serial-as-bob-0001')
    const noAsker = await forgedFor(undefined, 'serial-no-asker-01')
    const asShare = await forgedFor(`s:${share.id}`, 'serial-as-share-01')
    const result = await settle(node, t, [
      { grant: asBob, receipt: await aliceKey.sign(asBob, 100, now) },
      { grant: noAsker, receipt: await aliceKey.sign(noAsker, 100, now) },
      { grant: asShare, receipt: await aliceKey.sign(asShare, 100, now) },
      { grant: piece.grant, receipt: await aliceKey.sign(piece.grant, 100, now) }
    ])
    expect(result.rejected.map((r) => [r.index, r.reason])).toEqual([
      [0, 'unbound'],
      [1, 'unbound'],
      [2, 'unbound']
    ])
    // Only Alice's own grant is paid, and it is charged to Alice.
    expect(result.accepted).toEqual([base.serial])

    // A receipt signed with a key never granted at all is forged, as before.
    const stranger = await ReceiptSigner.create()
    const other = pieces[1] as GrantedPiece
    const otherNode = nodes.find((n) => n.peerId === other.node.peerId) as FakeNode
    const forged = await settle(otherNode, t, [{ grant: other.grant, receipt: await stranger.sign(other.grant, 100) }])
    expect(forged.accepted).toEqual([])
    expect(forged.rejected.map((r) => r.reason)).toEqual(['forged'])
  })
})
