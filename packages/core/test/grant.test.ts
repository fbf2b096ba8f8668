import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import {
  ErrorCode,
  fromBase64Url,
  type Grant,
  nodePublicKey,
  openNodeToken,
  pieceCid,
  signGrant,
  signReceipt,
  signToken,
  toBase64Url,
  verifyGrant,
  verifyReceipt
} from '../src/index.ts'

async function setup() {
  const tracker = await generateKeyPair('Ed25519')
  const nodeKey = await generateKeyPair('Ed25519')
  const node = peerIdFromPrivateKey(nodeKey).toString()
  const piece = (await pieceCid(new Uint8Array([1, 2, 3]))).toString()
  const now = Date.now()
  const grant: Grant = {
    v: 1,
    kind: 'get',
    piece,
    node,
    account: 'acct',
    size: 3,
    serial: 'serial-0001',
    iat: now,
    exp: now + 60_000
  }
  return { tracker, nodeKey, node, piece, now, grant, token: await signGrant(tracker, grant) }
}

describe('grants', () => {
  it('verifies a valid grant', async () => {
    const { tracker, token, node, piece, now, grant } = await setup()
    expect(await verifyGrant(token, tracker.publicKey, { kind: 'get', node, piece, now })).toEqual(grant)
  })

  it('any flipped bit in a grant is refused', async () => {
    const { tracker, token, node, piece, now } = await setup()
    const [body, sig] = token.split('.') as [string, string]
    for (const part of ['body', 'sig'] as const) {
      for (let trial = 0; trial < 16; trial++) {
        const bytes = fromBase64Url(part === 'body' ? body : sig)
        const bit = Math.floor(Math.random() * bytes.byteLength * 8)
        bytes[bit >> 3]! ^= 1 << (bit & 7)
        const forged = part === 'body' ? `${toBase64Url(bytes)}.${sig}` : `${body}.${toBase64Url(bytes)}`
        const err = await verifyGrant(forged, tracker.publicKey, { kind: 'get', node, piece, now }).catch((e) => e)
        expect(err.code).toBe(ErrorCode.GRANT_INVALID)
      }
    }
  })

  it("a get grant's asker (`by`) comes with its receipt key and names an account or a share", async () => {
    const { tracker, grant, node, piece, now } = await setup()
    const verify = async (extra: Partial<Grant>) =>
      verifyGrant(await signGrant(tracker, { ...grant, ...extra }), tracker.publicKey, {
        kind: 'get',
        node,
        piece,
        now
      })
    const rk = 'CAESIHJlY2VpcHQta2V5LWZvci10ZXN0cw'
    expect(await verify({ rk, by: 'a:acct-0001' })).toMatchObject({ rk, by: 'a:acct-0001' })
    expect(await verify({ rk, by: 's:share-0001' })).toMatchObject({ by: 's:share-0001' })
    for (const bad of [{ by: 'a:acct-0001' }, { rk, by: 'x:acct' }, { rk, by: 'a:' }, { rk, by: 'a:has space' }]) {
      expect((await verify(bad).catch((e) => e)).code).toBe(ErrorCode.GRANT_INVALID)
    }
  })

  it('a grant signed by another key is refused', async () => {
    const { grant, node, piece, now, tracker } = await setup()
    const other = await generateKeyPair('Ed25519')
    const forged = await signGrant(other, grant)
    expect((await verifyGrant(forged, tracker.publicKey, { kind: 'get', node, piece, now }).catch((e) => e)).code).toBe(
      ErrorCode.GRANT_INVALID
    )
  })

  it('kind, node, piece and expiry are checked', async () => {
    const { tracker, token, node, piece, now } = await setup()
    const check = (e: Partial<{ kind: 'put' | 'get'; node: string; piece: string; now: number }>) =>
      verifyGrant(token, tracker.publicKey, { kind: 'get', node, piece, now, ...e }).catch((err) => err.code)
    expect(await check({ kind: 'put' })).toBe(ErrorCode.GRANT_WRONG_KIND)
    expect(await check({ node: 'someone-else' })).toBe(ErrorCode.GRANT_WRONG_NODE)
    expect(await check({ piece: 'bafkreigh2akiscaildc' })).toBe(ErrorCode.GRANT_WRONG_PIECE)
    expect(await check({ now: now + 3_600_000 })).toBe(ErrorCode.GRANT_EXPIRED)
    expect(await check({ now: now - 3_600_000 })).toBe(ErrorCode.GRANT_INVALID)
  })

  it('garbage tokens are refused with a code', async () => {
    const { tracker, node, piece, now } = await setup()
    for (const bad of [undefined, 42, '', 'a.b.c', 'nodot', '!!!.???', 'x'.repeat(10_000)]) {
      const err = await verifyGrant(bad, tracker.publicKey, { kind: 'get', node, piece, now }).catch((e) => e)
      expect(err.code).toBe(ErrorCode.GRANT_INVALID)
    }
  })
})

describe('receipts', () => {
  it('verify against the node id, and reject mismatches and other signers', async () => {
    const { nodeKey, node, piece } = await setup()
    const receipt = {
      v: 2 as const,
      kind: 'put' as const,
      piece,
      node,
      size: 3,
      serial: 'serial-0001',
      root: 'A'.repeat(43),
      at: Date.now()
    }
    const token = await signReceipt(nodeKey, receipt)
    expect(await verifyReceipt(token, { node, piece, serial: 'serial-0001', size: 3 })).toEqual(receipt)
    expect((await verifyReceipt(token, { node, piece, serial: 'serial-0002', size: 3 }).catch((e) => e)).code).toBe(
      ErrorCode.RECEIPT_INVALID
    )
    expect((await verifyReceipt(token, { node, piece, serial: 'serial-0001', size: 4 }).catch((e) => e)).code).toBe(
      ErrorCode.RECEIPT_INVALID
    )
    const other = await generateKeyPair('Ed25519')
    const forged = await signReceipt(other, receipt)
    expect((await verifyReceipt(forged, { node, piece, serial: 'serial-0001', size: 3 }).catch((e) => e)).code).toBe(
      ErrorCode.RECEIPT_INVALID
    )
    // The node's key is parsed once and kept: a second check of the same node still tells forged from genuine.
    expect(await verifyReceipt(token, { node, piece, serial: 'serial-0001', size: 3 })).toEqual(receipt)
    for (const bad of ['not-a-peer-id', '']) {
      expect(
        (await verifyReceipt(token, { node: bad, piece, serial: 'serial-0001', size: 3 }).catch((e) => e)).code
      ).toBe(ErrorCode.RECEIPT_INVALID)
    }
  })

  it('reads a node key from its peer id once, and names ids without one', async () => {
    const { node } = await setup()
    const key = nodePublicKey(node)
    expect(nodePublicKey(node)).toBe(key)
    expect(peerIdFromPublicKey(key).toString()).toBe(node)
    expect(() => nodePublicKey('not-a-peer-id')).toThrow(TypeError)
    // An RSA-style id (a hash of the key) embeds no key.
    const hashed = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'
    expect(() => nodePublicKey(hashed)).toThrow(/does not embed its public key/)
  })

  it('opens a node-signed token only with the key of the node it names', async () => {
    const { node, nodeKey } = await setup()
    const other = await generateKeyPair('Ed25519')
    const payload = { v: 1, kind: 'heartbeat', node }
    expect(await openNodeToken(await signToken(nodeKey, payload), 'heartbeat')).toEqual({ node, payload })
    // Another key claiming to be the node: the signature is refused.
    const forged = await openNodeToken(await signToken(other, payload), 'heartbeat').catch((e) => e)
    expect(forged.code).toBe(ErrorCode.UNAUTHORIZED)
    // Naming no node, or one whose id embeds no key: invalid input, before any signature check.
    for (const named of [{}, { node: 'not-a-peer-id' }]) {
      const err = await openNodeToken(await signToken(nodeKey, named), 'heartbeat').catch((e) => e)
      expect(err.code).toBe(ErrorCode.INVALID_INPUT)
    }
    const garbage = await openNodeToken('garbage', 'heartbeat').catch((e) => e)
    expect(garbage.code).toBe(ErrorCode.UNAUTHORIZED)
    const long = await openNodeToken(await signToken(nodeKey, payload), 'heartbeat', 10).catch((e) => e)
    expect(long.message).toMatch(/too long/)
  })
})
