import { randomBytes } from 'node:crypto'
import { readFile, symlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import {
  createClientPeer,
  deletePiece,
  getPiece,
  openStream,
  putPiece,
  ReceiptSigner,
  requestRepair,
  ShoalClient,
  TrackerClient
} from '@shoal/client'
import {
  type ApiErrorBody,
  CID,
  ErrorCode,
  type GrantedPiece,
  type GrantedSegment,
  generateContentKey,
  generateObjectNonce,
  type InfoResponse,
  isShoalError,
  loadErasureCodec,
  PROTOCOL_DELETE,
  PROTOCOL_GET,
  PROTOCOL_REPAIR,
  pieceSize,
  SegmentCodec,
  signRepairOrder,
  signToken,
  toBase64Url
} from '@shoal/core'
import { startWebUiServer } from '@shoal/web-ui'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadOrCreateIdentity, peerIdOf } from '../../node/src/identity.ts'
import { Testnet } from '../src/index.ts'
import { codeOf, sha256Stream, tempDir, waitFor } from './helpers.ts'

/**
 * The adversarial suite (issue 12, docs/security.md): each test runs an attack that once worked against a live
 * network, through the public HTTP API and the nodes' libp2p protocols, against real tracker and node
 * processes, and fails if the attack works again. Assertions are on error codes and on bytes, never messages.
 */

/** JSON log lines of node `index` with message `msg`. */
async function nodeLog(net: Testnet, index: number, msg: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(net.dir, 'logs', `node-${index}.log`), 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter((line) => line.includes(msg))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>
      } catch {
        return {}
      }
    })
    .filter((entry) => entry.msg === msg)
}

const bytesOf = (b: Uint8Array) =>
  sha256Stream(
    (async function* () {
      yield b
    })()
  )

describe('adversary: pieces, roots and receipts against real processes', () => {
  let net: Testnet
  let victim: ShoalClient
  let attacker: ShoalClient
  let attackerApi: TrackerClient
  let peer: Libp2p
  let receipts: ReceiptSigner
  const secret = randomBytes(300_000)

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '1MiB' })
    victim = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'victim@example.com', password: 'victim password' },
      { codec: 'local' }
    )
    attacker = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'mallory@example.com', password: 'mallory password' },
      { codec: 'local' }
    )
    attackerApi = new TrackerClient({ url: net.tracker.url, token: attacker.session().token })
    peer = await createClientPeer()
    receipts = await ReceiptSigner.create()
    await victim.put('precious.bin', [secret], secret.byteLength)
  })

  afterAll(async () => {
    await peer?.stop()
    await attacker?.stop()
    await victim?.stop()
    await net?.stop()
  })

  /** Reads a piece as an honest client does: paying with in-band receipts (get protocol 2.0.0). */
  function paidGet(p: GrantedPiece): Promise<Uint8Array> {
    return getPiece(
      peer,
      p.node,
      { grant: p.grant, cid: CID.parse(p.cid), size: pieceBytesOf() },
      { sign: (bytes) => receipts.sign(p.grant, bytes) }
    )
  }

  let victimShare: string | undefined

  /** What anyone holding a share link learns: the file's piece CIDs and their nodes (and grants to read them). */
  async function victimPieces(): Promise<GrantedSegment> {
    // One link: a receipt key belongs to the one account or link it was first used with (security.md, 14).
    victimShare ??= (await victim.share('precious.bin')).share.id
    const anonymous = new TrackerClient({ url: net.tracker.url })
    const granted = await anonymous.shareGrants(victimShare, { from: 0, to: 1, receiptKey: receipts.receiptKey })
    return granted.segments[0] as GrantedSegment
  }

  async function beginAs(size: number) {
    return attackerApi.beginUpload({
      nameHash: toBase64Url(randomBytes(32)),
      size,
      meta: 'AAAA',
      wrappedKey: 'AAAA',
      nonce: toBase64Url(generateObjectNonce())
    })
  }

  /** POSTs a heartbeat signed by `key`; the typed error code of the answer, or undefined when accepted. */
  async function heartbeatAs(key: PrivateKey, addrs: string[], free = 2 ** 49): Promise<string | undefined> {
    const token = await signToken(key, {
      v: 1,
      kind: 'heartbeat',
      node: peerIdOf(key),
      addrs,
      capacity: free,
      used: 0,
      free,
      at: Date.now(),
      version: '0.1.0',
      deleted: []
    })
    const response = await fetch(`${net.tracker.url}/v1/nodes/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token })
    })
    if (response.ok) return undefined
    return ((await response.json()) as ApiErrorBody).error.code
  }

  // Attack 2 (issue 12): a heartbeat signed with a fresh key registered a node that does not exist, and its
  // huge free-space claim won it placement. Now the tracker dials it back first.
  it('a key that runs no node is not admitted, nor one that claims a real node’s address', async () => {
    const dir = await tempDir('shoal-fake-node-')
    try {
      const key = await loadOrCreateIdentity(dir.path)
      expect(await heartbeatAs(key, ['/ip4/127.0.0.1/tcp/9'])).toBe(ErrorCode.NODE_NOT_REACHABLE)
      // Someone else's address answers, but as someone else: the Noise handshake tells them apart.
      const stolen = (net.nodes[0]?.addrs ?? []).map((a) => a.replace(/\/p2p\/[^/]+$/, ''))
      expect(stolen.length).toBeGreaterThan(0)
      expect(await heartbeatAs(key, stolen)).toBe(ErrorCode.NODE_NOT_REACHABLE)
      expect((await net.nodeViews()).some((v) => v.peerId === peerIdOf(key))).toBe(false)
      // And no upload is ever placed on it.
      const begin = await beginAs(10_000)
      const codec = await SegmentCodec.create(
        { size: 10_000, segmentSize: begin.segmentSize, k: begin.k, m: begin.m },
        await loadErasureCodec(),
        generateContentKey(),
        generateObjectNonce()
      )
      const encoded = await codec.encode(0, randomBytes(10_000))
      const place = await attackerApi.placeSegment(begin.uploadId, 0, {
        pieces: encoded.cids.map((cid, index) => ({ index, cid: cid.toString(), size: encoded.pieceSize }))
      })
      expect(place.pieces.every((p) => p.node.peerId !== peerIdOf(key))).toBe(true)
      await attackerApi.abortUpload(begin.uploadId)
    } finally {
      await dir.cleanup()
    }
  })

  /** A request to the live tracker with a raw (possibly percent-encoded) path: status and error code. */
  async function raw(method: string, path: string, init: { token?: string; body?: unknown } = {}) {
    const response = await fetch(`${net.tracker.url}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` })
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) })
    })
    const text = await response.text()
    const code = response.ok ? undefined : (JSON.parse(text) as ApiErrorBody).error.code
    return { status: response.status, code, body: text.length > 0 ? (JSON.parse(text) as unknown) : undefined }
  }

  // Attack 6 (issue 12): limits and scopes read the raw URL while the router decodes it.
  it('a percent-encoded path gets the same login limit and the same scope checks as the plain one', async () => {
    const login = { email: 'nobody-here@example.com', authKey: toBase64Url(randomBytes(32)) }
    const codes: (string | undefined)[] = []
    for (let i = 0; i < 30 && !codes.includes(ErrorCode.RATE_LIMITED); i++) {
      codes.push((await raw('POST', '/v1/%73essions', { body: login })).code)
    }
    expect(codes).toContain(ErrorCode.RATE_LIMITED)

    const session = attacker.session().token
    const key = async (scopes: string[]) =>
      ((await raw('POST', '/v1/api-keys', { token: session, body: { name: 'k', scopes } })).body as { key: string }).key
    const readOnly = await key(['read'])
    const writeOnly = await key(['write'])
    expect((await raw('GET', '/v1/shares', { token: readOnly })).code).toBe(ErrorCode.FORBIDDEN)
    expect((await raw('GET', '/v1/%73hares', { token: readOnly })).code).toBe(ErrorCode.FORBIDDEN)
    expect((await raw('POST', '/v1/%73hares', { token: writeOnly, body: {} })).code).toBe(ErrorCode.FORBIDDEN)
    expect((await raw('POST', '/v1/%61pi-keys', { token: writeOnly, body: { scopes: ['share'] } })).code).toBe(
      ErrorCode.FORBIDDEN
    )
  })

  // Attack 7 (issue 12): share passwords had no rate limit, and each guess cost the tracker a 16 MiB scrypt.
  it('guessing a share password is limited per share before any hash is computed', async () => {
    const { share } = await victim.share('precious.bin', { password: 'correct horse battery' })
    const anonymous = new TrackerClient({ url: net.tracker.url })
    const codes: (string | undefined)[] = []
    for (let i = 0; i < 40 && !codes.includes(ErrorCode.RATE_LIMITED); i++) {
      codes.push(
        await codeOf(anonymous.shareGrants(share.id, { from: 0, to: 1, authKey: toBase64Url(randomBytes(32)) }))
      )
    }
    expect(codes[0]).toBe(ErrorCode.SHARE_PASSWORD)
    expect(codes).toContain(ErrorCode.RATE_LIMITED)
    expect(codes.length).toBeLessThanOrEqual(11)
  })

  // Attack 5 (issue 12): without any grant, 32 idle get and 32 idle delete streams made every other client get
  // ERR_NODE_OVERLOADED, and two idle repair streams blocked repair for 120 s.
  it('idle streams from one peer without grants lock nobody else out of a node', async () => {
    const target = await victimPieces()
    const piece = target.pieces[0] as GrantedPiece
    const evil = await createClientPeer()
    await evil.start()
    try {
      const open = (protocol: string) => openStream(evil, piece.node, protocol, {}).catch(() => undefined)
      const idle = await Promise.all([
        ...Array.from({ length: 32 }, () => open(PROTOCOL_GET)),
        ...Array.from({ length: 32 }, () => open(PROTOCOL_DELETE)),
        ...Array.from({ length: 4 }, () => open(PROTOCOL_REPAIR))
      ])
      // A byte of a header that never completes, as the attack trickled them.
      await Promise.all(idle.map((s) => s?.send(Uint8Array.of(0x80))))
      const got = await paidGet(piece)
      expect(got.byteLength).toBe(pieceBytesOf())
      // The repair protocol still reads and judges an order at once (this one is not the tracker's).
      expect(await codeOf(requestRepair(peer, piece.node, 'no.order'))).toBe(ErrorCode.GRANT_INVALID)
      for (const s of idle) s?.abort(new Error('done'))
    } finally {
      await evil.stop()
    }
  })

  // Attack 9 (issue 12): any peer holding some valid grants could make a node fetch and push pieces for it, and
  // the order's own k, m and piece size sized a buffer up to 64 GiB before anything was read.
  it('a repair order not signed by the tracker does nothing, however valid its grants', async () => {
    const target = await victimPieces()
    const source = target.pieces[0] as GrantedPiece
    const begin = await beginAs(secret.byteLength)
    const place = await attackerApi.placeSegment(begin.uploadId, 0, {
      pieces: target.pieces.map((p, index) => ({ index, cid: p.cid, size: pieceBytesOf() }))
    })
    const put = place.pieces.find((p) => p.node.peerId !== source.node.peerId) as GrantedPiece
    const worker = target.pieces.find(
      (p) => p.node.peerId !== source.node.peerId && p.node.peerId !== put.node.peerId
    ) as GrantedPiece
    const order = {
      k: 256,
      m: 0,
      pieceSize: 256 * 1024 * 1024,
      sources: [{ index: source.index, cid: source.cid, node: source.node, grant: source.grant }],
      targets: [{ index: put.index, cid: put.cid, node: put.node, grant: put.grant }]
    }
    const mallory = await loadOrCreateIdentity((await tempDir('shoal-mallory-')).path)
    const now = Date.now()
    const selfSigned = await signRepairOrder(mallory, {
      v: 2,
      kind: 'repair',
      worker: worker.node.peerId,
      iat: now,
      exp: now + 60_000,
      ...order
    })
    expect(await codeOf(requestRepair(peer, worker.node, selfSigned))).toBe(ErrorCode.GRANT_INVALID)
    // Neither grant was used: the worker fetched and pushed nothing.
    const read = await paidGet(source)
    expect(read.byteLength).toBe(pieceBytesOf())
    const bytes = (await readPieces(await victimPieces())).get(put.cid) as Uint8Array
    expect(typeof (await putPiece(peer, put.node, { grant: put.grant, cid: CID.parse(put.cid), bytes }))).toBe('string')
    await attackerApi.abortUpload(begin.uploadId)
  })

  /** Stores each placed piece under its put grant; the commit body of the nodes' receipts. */
  function putAll(pieces: GrantedPiece[], bytes: (p: GrantedPiece) => Uint8Array) {
    return Promise.all(
      pieces.map(async (p) => ({
        index: p.index,
        cid: p.cid,
        node: p.node.peerId,
        receipt: await putPiece(peer, p.node, { grant: p.grant, cid: CID.parse(p.cid), bytes: bytes(p) })
      }))
    )
  }

  /** The victim's piece bytes, read through the share as any link holder may, by CID. */
  async function readPieces(segment: GrantedSegment): Promise<Map<string, Uint8Array>> {
    const read = (p: GrantedPiece) => paidGet(p)
    return new Map(await Promise.all(segment.pieces.map(async (p) => [p.cid, await read(p)] as const)))
  }

  /**
   * Places a segment of a new attacker upload naming the victim's piece CIDs so that each lands on the very node
   * that holds the victim's copy (placement is deterministic: a second try with the CIDs permuted lines up).
   */
  async function placeOverVictim(target: GrantedSegment) {
    const holderOf = new Map(target.pieces.map((p) => [p.node.peerId, p]))
    let order = target.pieces
    for (let attempt = 0; attempt < 10; attempt++) {
      const begin = await beginAs(secret.byteLength)
      const place = await attackerApi.placeSegment(begin.uploadId, 0, {
        pieces: order.map((p, index) => ({ index, cid: p.cid, size: pieceBytesOf() }))
      })
      if (place.pieces.every((p) => holderOf.get(p.node.peerId)?.cid === p.cid)) return { begin, place }
      order = place.pieces.map((p) => holderOf.get(p.node.peerId) ?? (target.pieces[p.index] as GrantedPiece))
      await attackerApi.abortUpload(begin.uploadId)
    }
    throw new Error('the attacker’s placement never lined up with the victim’s')
  }

  // Attack 1 (issue 12): a share-link holder names the victim's piece CIDs in an upload of its own, even
  // stores the same bytes under its own grants, then aborts; the tracker sends delete orders for those CIDs.
  it('an aborted upload naming the victim’s piece CIDs deletes nothing of the victim’s', async () => {
    // Fetch the victim's pieces through the share (as a link holder may) and store them under the attacker's
    // own put grants, so the nodes hold them for the attacker too.
    const fresh = await victimPieces()
    const byCid = await readPieces(fresh)
    const { begin, place } = await placeOverVictim(fresh)
    await Promise.all(
      place.pieces.map((p) =>
        putPiece(peer, p.node, { grant: p.grant, cid: CID.parse(p.cid), bytes: byCid.get(p.cid) as Uint8Array })
      )
    )
    await attackerApi.abortUpload(begin.uploadId)
    // Every delete order the abort caused reaches its node and is carried out (logged) before we judge.
    await waitFor('the abort’s delete orders to be carried out', async () => {
      const lines = (await Promise.all(net.nodes.map((_, i) => nodeLog(net, i, 'delete order carried out')))).flat()
      return lines.filter((l) => l.obj === begin.uploadId).length >= place.pieces.length ? true : undefined
    })
    const { sha } = await sha256Stream((await victim.get('precious.bin')).stream)
    expect(sha).toBe((await bytesOf(secret)).sha)
    // And each holder still serves the victim's own piece: nothing was rebuilt from parity behind our back.
    const check = await victimPieces()
    for (const p of check.pieces) {
      const got = await paidGet(p)
      expect(got.byteLength).toBe(pieceBytesOf())
    }
  })

  // Attack 1, direct variant: the attacker commits an object holding the victim's pieces, deletes it, and sends
  // the delete grants it is handed straight to the nodes.
  it('a delete grant of one object cannot remove the same CID held for another object', async () => {
    const target = await victimPieces()
    const byCid = await readPieces(target)
    const { begin, place } = await placeOverVictim(target)
    const receipts = await putAll(place.pieces, (p) => byCid.get(p.cid) as Uint8Array)
    await attackerApi.commitSegment(begin.uploadId, 0, { pieces: receipts })
    const { object } = await attackerApi.commitUpload(begin.uploadId)
    const { deletes } = await attackerApi.deleteObject(object.id)
    for (const d of deletes) {
      // The tracker also hands each delete grant to its node in the next heartbeat (1 s here): a node that has
      // carried it out from there refuses it as "already used", as the SDK's own remove expects. Either way the
      // order has been carried out; anything else fails the test.
      await deletePiece(peer, d.node, { grant: d.grant, piece: d.piece }).catch((err: unknown) => {
        if (!isShoalError(err, ErrorCode.GRANT_REPLAYED)) throw err
      })
    }
    const { sha } = await sha256Stream((await victim.get('precious.bin')).stream)
    expect(sha).toBe((await bytesOf(secret)).sha)
  })

  // Attack 3 (issue 12): an upload claims wrong Merkle roots so that an honest node fails every audit.
  it('an upload with wrong Merkle roots cannot commit: the node signs the root it computed', async () => {
    const size = 50_000
    const begin = await beginAs(size)
    const codec = await SegmentCodec.create(
      { size, segmentSize: begin.segmentSize, k: begin.k, m: begin.m },
      await loadErasureCodec(),
      generateContentKey(),
      generateObjectNonce()
    )
    const encoded = await codec.encode(0, randomBytes(size))
    const wrongRoot = toBase64Url(randomBytes(32))
    const place = await attackerApi.placeSegment(begin.uploadId, 0, {
      pieces: encoded.cids.map((cid, index) => ({
        index,
        cid: cid.toString(),
        size: encoded.pieceSize,
        root: wrongRoot
      }))
    })
    const receipts = await putAll(place.pieces, (p) => encoded.pieces[p.index] as Uint8Array)
    expect(await codeOf(attackerApi.commitSegment(begin.uploadId, 0, { pieces: receipts }))).toBe(
      ErrorCode.ROOT_MISMATCH
    )
    await attackerApi.abortUpload(begin.uploadId)
  })

  /** Size of each piece of the victim's one-segment file (k = 2). */
  function pieceBytesOf(): number {
    return pieceSize({ size: secret.byteLength, k: 2, m: 1, segmentSize: 1024 * 1024 }, 0)
  }
})

// Attack 8 (issue 12): a malicious tracker serves weak KDF parameters from /v1/info so that the auth key it then
// receives can be brute-forced back to the password, which unwraps the master key.
describe('adversary: a malicious tracker', () => {
  it('serving weak KDF parameters gets ERR_KDF_TOO_WEAK and never sees an auth key', async () => {
    const honest = await Testnet.start({ nodes: 0 })
    const seen: string[] = []
    const server = createServer((request, response) => {
      seen.push(`${request.method} ${request.url}`)
      void (async () => {
        const upstream = await fetch(`${honest.tracker.url}${request.url}`)
        const info = (await upstream.json()) as InfoResponse
        response.setHeader('content-type', 'application/json')
        response.end(JSON.stringify({ ...info, kdf: { N: 2, r: 1, p: 1 } }))
      })()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const credentials = { tracker: `http://127.0.0.1:${port}`, email: 'kdf@example.com', password: 'hunter2 hunter2' }
      expect(await codeOf(ShoalClient.login(credentials))).toBe(ErrorCode.KDF_TOO_WEAK)
      expect(await codeOf(ShoalClient.signup(credentials))).toBe(ErrorCode.KDF_TOO_WEAK)
      expect(seen.every((line) => line === 'GET /v1/info')).toBe(true)
    } finally {
      await new Promise((resolve) => server.close(resolve))
      await honest.stop()
    }
  })
})

// Attack 4 (issue 12): a get without a receipt key was served and could never be settled; a client could also
// just never send receipts. Pieces here (8 MiB segments, k = 2) are larger than a node's 4 MiB credit.
describe('adversary: downloads that do not pay', () => {
  let net: Testnet
  let owner: ShoalClient
  let api: TrackerClient
  let peer: Libp2p
  let receipts: ReceiptSigner
  const size = 10 * 1024 * 1024
  const pieceBytes = pieceSize({ size, k: 2, m: 1, segmentSize: 16 * 1024 * 1024 }, 0)

  beforeAll(async () => {
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '16MiB' })
    owner = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'payer@example.com', password: 'payer password' },
      { codec: 'local' }
    )
    api = new TrackerClient({ url: net.tracker.url, token: owner.session().token })
    peer = await createClientPeer()
    receipts = await ReceiptSigner.create()
    await owner.put('big.bin', [randomBytes(size)], size)
  })

  afterAll(async () => {
    await peer?.stop()
    await owner?.stop()
    await net?.stop()
  })

  async function grant(receiptKey?: string): Promise<GrantedPiece> {
    const info = await owner.stat('big.bin')
    const granted = await api.downloadGrants(info.id, 0, 1, receiptKey === undefined ? {} : { receiptKey })
    return (granted.segments[0] as GrantedSegment).pieces[0] as GrantedPiece
  }

  it('a get grant without a receipt key is refused by the node', async () => {
    expect(pieceBytes).toBeGreaterThan(4 * 1024 * 1024)
    const p = await grant()
    expect(await codeOf(getPiece(peer, p.node, { grant: p.grant, cid: CID.parse(p.cid), size: pieceBytes }))).toBe(
      ErrorCode.RECEIPT_REQUIRED
    )
  })

  it('a client that sends no receipts gets no more than the credit; one that pays gets the whole piece', async () => {
    const unpaid = await grant(receipts.receiptKey)
    let received = 0
    const err = await codeOf(
      getPiece(
        peer,
        unpaid.node,
        { grant: unpaid.grant, cid: CID.parse(unpaid.cid), size: pieceBytes },
        { onBytes: (n) => (received += n), stallMs: 10_000 }
      )
    )
    expect(err).toBeDefined()
    expect(received).toBeLessThan(pieceBytes)
    expect(received).toBeLessThanOrEqual(5 * 1024 * 1024)

    const paid = await grant(receipts.receiptKey)
    const bytes = await getPiece(
      peer,
      paid.node,
      { grant: paid.grant, cid: CID.parse(paid.cid), size: pieceBytes },
      { sign: (n) => receipts.sign(paid.grant, n) }
    )
    expect(bytes.byteLength).toBe(pieceBytes)
  })
})

// Issue 12, item 10: the web UI server crashed when a read failed after the stat, and sent no CSP.
describe('adversary: the web UI server', () => {
  it('survives a read that fails after the stat, and forbids framing', async () => {
    const dir = await tempDir('shoal-webui-')
    await writeFile(join(dir.path, 'index.html'), '<!doctype html><title>Shoal</title>')
    // Stat says a file of 0 bytes; reading it fails (EIO): the same as a file that goes bad between the two.
    await symlink('/proc/self/mem', join(dir.path, 'broken.js'))
    const ui = await startWebUiServer({ tracker: 'https://tracker.example', dir: `${dir.path}/` })
    try {
      await fetch(`${ui.url}/broken.js`)
        .then((r) => r.arrayBuffer())
        .catch(() => undefined)
      const page = await fetch(`${ui.url}/`)
      expect(page.status).toBe(200)
      const csp = page.headers.get('content-security-policy') ?? ''
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).toContain("script-src 'self'")
    } finally {
      await ui.close()
      await dir.cleanup()
    }
  })
})
