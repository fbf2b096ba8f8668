import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  ByteReader,
  type CID,
  type Grant,
  type GrantKind,
  MiB,
  PROTOCOL_DELETE,
  PROTOCOL_GET,
  PROTOCOL_PUT,
  pieceCid,
  REPAIR_ACCOUNT,
  randomBytes,
  readRequiredFrame,
  sendBounded,
  signGrant,
  slices,
  toBase64Url
} from '@shoal/core'
import { Level } from 'level'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { expect } from 'vitest'
import { createNode, type NodeInit, type ShoalNode } from '../src/index.ts'
import { createNodeLibp2p, type NodeLibp2p } from '../src/libp2p.ts'
import { PieceService, type PieceStorage } from '../src/piece-service.ts'
import { PieceStore } from '../src/piece-store.ts'
import { TokenBucket } from '../src/token-bucket.ts'
import { UsedSerials } from '../src/used-serials.ts'

/** Registers a teardown; helpers call it in the same step that creates a resource. */
export type Defer = (fn: () => Promise<unknown> | unknown) => void

/** A stack of teardowns run in reverse order: for `beforeAll`/`afterAll` pairs. */
export class Teardown {
  readonly #stack: (() => Promise<unknown> | unknown)[] = []
  readonly defer: Defer = (fn) => {
    this.#stack.push(fn)
  }
  async run(): Promise<void> {
    while (this.#stack.length > 0) await this.#stack.pop()?.()
  }
}

export async function tempDir(defer: Defer, prefix = 'shoal-node-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  defer(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export interface Piece {
  bytes: Uint8Array
  cid: CID
  id: string
}

export async function randomPiece(size: number): Promise<Piece> {
  const bytes = randomBytes(size)
  const cid = await pieceCid(bytes)
  return { bytes, cid, id: cid.toString() }
}

export function randomSerial(): string {
  return toBase64Url(randomBytes(12))
}

/** The tracker side of a test: a real Ed25519 key that signs grants. */
export class GrantSigner {
  readonly key: PrivateKey
  constructor(key: PrivateKey) {
    this.key = key
  }
  static async create(): Promise<GrantSigner> {
    return new GrantSigner(await generateKeyPair('Ed25519'))
  }
  sign(kind: GrantKind, piece: string, node: string, overrides: Partial<Grant> = {}): Promise<string> {
    const now = Date.now()
    return signGrant(this.key, {
      v: 1,
      kind,
      piece,
      node,
      account: 'account-1',
      size: 128 * MiB,
      serial: randomSerial(),
      iat: now,
      exp: now + 60_000,
      ...(kind === 'put' || kind === 'delete' ? { obj: 'object-0001' } : {}),
      // Gets without a receipt key are served only to the network's repair account (the unpaid kind); tests of
      // other things read that way, and credit-window tests give an `rk`.
      ...(kind === 'get' ? { account: REPAIR_ACCOUNT } : {}),
      ...overrides
    })
  }
}

export interface NodeFixture {
  node: ShoalNode
  dir: string
  tracker: GrantSigner
  /** A grant for this node. */
  grant(kind: GrantKind, piece: string, overrides?: Partial<Grant>): Promise<string>
}

/** Starts a node on loopback TCP with a test tracker key and no tracker URL (no heartbeats). */
export async function startNode(
  defer: Defer,
  init: Partial<NodeInit> & { tracker?: GrantSigner } = {}
): Promise<NodeFixture> {
  const tracker = init.tracker ?? (await GrantSigner.create())
  const dir = init.dataDir ?? (await tempDir(defer))
  const { tracker: _, ...rest } = init
  const node = await createNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    trackerPublicKey: tracker.key.publicKey,
    ...rest,
    dataDir: dir
  })
  await node.start()
  defer(() => node.stop())
  const peer = node.peerId.toString()
  return { node, dir, tracker, grant: (kind, piece, overrides) => tracker.sign(kind, piece, peer, overrides) }
}

/** The node's own libp2p (createNodeLibp2p) with a fresh identity, started, listening on `listen`; stopped at teardown. */
export async function startNodePeer(defer: Defer, listen = ['/ip4/127.0.0.1/tcp/0']): Promise<Libp2p> {
  const peer = await createNodeLibp2p({ privateKey: await generateKeyPair('Ed25519'), listen })
  await peer.start()
  defer(() => peer.stop())
  return peer
}

/** A plain libp2p peer (tcp + noise + yamux + identify) that speaks the piece protocols by hand. */
export async function startClient(defer: Defer, options: { maxStreamWindowSize?: number } = {}): Promise<Libp2p> {
  const client = await createLibp2p({
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: options.maxStreamWindowSize ?? 16 * MiB } })],
    services: { identify: identify() }
  })
  defer(() => client.stop())
  return client
}

export interface Reply {
  header: Record<string, unknown>
  /** The bytes after an ok get header. */
  body?: Uint8Array
}

export interface CallOptions {
  /** Half-close after sending (the normal case); false keeps our side open. */
  close?: boolean
  /** Reset the stream after sending instead of closing it: the peer vanishes mid-request. */
  reset?: boolean
}

/**
 * One request on a fresh stream. The answer is read while the request is still being sent, so an early error
 * answer is seen even if the node stops reading.
 */
export async function call(
  client: Libp2p,
  target: Multiaddr[],
  protocol: string,
  parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: CallOptions = {}
): Promise<Reply> {
  const stream = await client.dialProtocol(target, protocol)
  const reader = new ByteReader(stream)
  const reply = (async (): Promise<Reply> => {
    const header = await readRequiredFrame(reader, 'response')
    if (header.ok === true && typeof header.size === 'number') {
      const body = await reader.readExactly(header.size)
      // A plain Uint8Array view (transports hand out Buffers): tests compare with toEqual.
      return { header, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) }
    }
    return { header }
  })()
  reply.catch(() => undefined)
  let sendError: unknown
  try {
    // Deliberately eager (no backpressure): these tests check the node's own bounds against a pushy client.
    for await (const part of parts) stream.send(part)
    if (options.reset === true) {
      stream.abort(new Error('client gave up'))
    } else if (options.close !== false) {
      await stream.close()
    }
  } catch (err) {
    sendError = err
  }
  try {
    return await reply
  } catch (err) {
    throw sendError ?? err
  } finally {
    if (options.close !== false && stream.status === 'open') await stream.close().catch(() => undefined)
  }
}

/** Opens a stream and leaves it to the test. */
export function openStream(client: Libp2p, node: ShoalNode, protocol: string): Promise<Stream> {
  return client.dialProtocol(node.multiaddrs, protocol)
}

export function frame(header: object): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(header))
  return rawFrame(body)
}

/** A frame around arbitrary bytes: for malformed headers. */
export function rawFrame(body: Uint8Array, declaredLength = body.byteLength): Uint8Array {
  const prefix: number[] = []
  let n = declaredLength
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n > 0) byte |= 0x80
    prefix.push(byte)
  } while (n > 0)
  const out = new Uint8Array(prefix.length + body.byteLength)
  out.set(prefix, 0)
  out.set(body, prefix.length)
  return out
}

export function put(
  client: Libp2p,
  node: ShoalNode,
  request: { grant: string; piece: string; size?: number; bytes: Uint8Array },
  options?: CallOptions
): Promise<Reply> {
  const header = frame({ grant: request.grant, piece: request.piece, size: request.size ?? request.bytes.byteLength })
  return call(client, node.multiaddrs, PROTOCOL_PUT, [header, ...slices(request.bytes, 256 * 1024)], options)
}

export function get(
  client: Libp2p,
  node: ShoalNode,
  request: { grant: string; piece: string; offset?: number; length?: number }
): Promise<Reply> {
  return call(client, node.multiaddrs, PROTOCOL_GET, [frame(request)])
}

export function del(client: Libp2p, node: ShoalNode, request: { grant: string; piece: string }): Promise<Reply> {
  return call(client, node.multiaddrs, PROTOCOL_DELETE, [frame(request)])
}

/** Byte equality without vitest's element-by-element diff, which is slow on large arrays. */
export function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual, 'bytes present').toBeDefined()
  const a = Buffer.from(
    (actual as Uint8Array).buffer,
    (actual as Uint8Array).byteOffset,
    (actual as Uint8Array).byteLength
  )
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)
  expect(a.byteLength, 'length').toBe(b.byteLength)
  expect(a.equals(b), 'bytes equal').toBe(true)
}

export function expectOk(reply: Reply): Record<string, unknown> {
  expect(reply.header, JSON.stringify(reply.header)).toMatchObject({ ok: true })
  return reply.header
}

export function expectCode(reply: Reply, code: string): void {
  expect(reply.header, JSON.stringify(reply.header)).toMatchObject({ ok: false, code })
}

/** Polls a condition; for state that changes in the background (no fixed sleeps). */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export interface PieceServer {
  libp2p: NodeLibp2p
  tracker: GrantSigner
  /** Bytes the transport delivered to put streams, and bytes the store consumed from them. */
  received: number
  consumed: number
  /** Largest difference between the two while a put ran: what the node held in memory for it. */
  peakHeld: number
  /** Put streams the node's side saw reset or aborted. */
  resets: number
  grant(kind: GrantKind, piece: string): Promise<string>
}

/**
 * The node's own libp2p, piece store and piece service, assembled by hand so a test can put a fault-injecting
 * wrapper between service and store: `diskRate` makes the disk take piece bytes at that many bytes/s.
 */
export async function startPieceServer(defer: Defer, options: { diskRate?: number } = {}): Promise<PieceServer> {
  const dir = await tempDir(defer)
  const privateKey = await generateKeyPair('Ed25519')
  const tracker = await GrantSigner.create()
  const libp2p = await createNodeLibp2p({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const db = new Level<string, string>(join(dir, 'index'))
  await db.open()
  defer(() => db.close())
  const store = new PieceStore({ dir, db, capacity: 1024 * MiB })
  await store.open()
  const disk =
    options.diskRate === undefined ? undefined : new TokenBucket({ rate: options.diskRate, burst: 64 * 1024 })
  const server: PieceServer = {
    libp2p,
    tracker,
    received: 0,
    consumed: 0,
    peakHeld: 0,
    resets: 0,
    grant: (kind, piece) => tracker.sign(kind, piece, libp2p.peerId.toString())
  }
  const slow: PieceStorage = {
    put: (cid, size, source, opts) =>
      store.put(
        cid,
        size,
        (async function* () {
          for await (const chunk of source) {
            await disk?.take(chunk.byteLength)
            server.consumed += chunk.byteLength
            yield chunk
          }
        })(),
        opts
      ),
    openReader: (cid) => store.openReader(cid),
    release: (cid, ref) => store.release(cid, ref)
  }
  const service = new PieceService({
    peerId: libp2p.peerId.toString(),
    privateKey,
    trackerKey: tracker.key.publicKey,
    store: slow,
    serials: new UsedSerials(db),
    logger: pino({ level: 'silent' })
  })
  service.start()
  await libp2p.start()
  defer(async () => {
    await service.stop()
    await libp2p.stop()
  })
  await libp2p.handle(PROTOCOL_PUT, (stream, connection) => {
    stream.addEventListener('message', (evt) => {
      server.received += evt.data.byteLength
      server.peakHeld = Math.max(server.peakHeld, server.received - server.consumed + stream.readBufferLength)
    })
    stream.addEventListener('close', (evt) => {
      if (evt.error !== undefined) server.resets++
    })
    return service.handlePut(stream, connection)
  })
  return server
}

/** A put the way the client SDK sends one: header and body through core's bounded sender, then half-close. */
export async function boundedPut(
  client: Libp2p,
  target: Multiaddr[],
  request: { grant: string; piece: string; bytes: Uint8Array }
): Promise<Reply> {
  const stream = await client.dialProtocol(target, PROTOCOL_PUT)
  const reader = new ByteReader(stream)
  const header = frame({ grant: request.grant, piece: request.piece, size: request.bytes.byteLength })
  await sendBounded(stream, [header, ...slices(request.bytes, 256 * 1024)])
  await stream.close()
  return { header: await readRequiredFrame(reader, 'response') }
}
