import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  type ApiErrorBody,
  type BeginUploadResponse,
  type CommitUploadResponse,
  fromBase64Url,
  type Grant,
  type HeartbeatPayload,
  type HeartbeatResponse,
  type PlaceSegmentResponse,
  peekToken,
  pieceCid,
  randomBytes,
  type SessionResponse,
  signReceipt,
  signToken,
  toBase64Url,
  utf8
} from '@shoal/core'
import { expect, onTestFinished } from 'vitest'
import type { Clock, TrackerInit } from '../src/config.ts'
import { createTracker, type Tracker } from '../src/tracker.ts'

/** Time that moves only when a test says so. */
export class TestClock implements Clock {
  #now: number
  constructor(start = 1_900_000_000_000) {
    this.#now = start
  }
  now(): number {
    return this.#now
  }
  advance(ms: number): void {
    this.#now += ms
  }
}

export interface Response<T> {
  status: number
  body: T
}

export interface RequestOptions {
  body?: unknown
  /** Sent as is, instead of JSON of `body`. */
  raw?: string
  token?: string
  headers?: Record<string, string>
}

/** Small k and segments so tests move bytes in the hundreds, not megabytes. */
export const TEST_POLICY = { k: 2, m: 1, segmentSize: 1024 }

export class TestTracker {
  readonly clock: TestClock
  readonly dir: string
  readonly init: Omit<TrackerInit, 'dataDir' | 'clock'>
  tracker: Tracker

  constructor(dir: string, clock: TestClock, init: Omit<TrackerInit, 'dataDir' | 'clock'>) {
    this.dir = dir
    this.clock = clock
    // Test nodes here are keys that heartbeat, not libp2p nodes: nothing could be dialled back.
    this.init = { ...init, ops: { admitNodes: 'trust', ...init.ops } }
    this.tracker = createTracker({ ...this.init, dataDir: dir, clock })
  }

  get url(): string {
    return this.tracker.url
  }

  /** Stops this tracker and starts a new one over the same folder. */
  async restart(): Promise<void> {
    await this.tracker.stop()
    this.tracker = createTracker({ ...this.init, dataDir: this.dir, clock: this.clock })
    await this.tracker.start()
  }

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<Response<T>> {
    const headers: Record<string, string> = { ...options.headers }
    let body: string | undefined = options.raw
    if (body === undefined && options.body !== undefined) body = JSON.stringify(options.body)
    if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json'
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    const response = await fetch(`${this.url}${path}`, { method, headers, body: body ?? null })
    const text = await response.text()
    return { status: response.status, body: (text.length === 0 ? undefined : JSON.parse(text)) as T }
  }

  async trackerKey(): Promise<PublicKey> {
    const info = await this.request<{ publicKey: string }>('GET', '/v1/info')
    return publicKeyFromProtobuf(fromBase64Url(info.body.publicKey))
  }
}

/** Starts a tracker on 127.0.0.1:0 in a fresh folder; stops it and removes the folder when the test ends. */
export async function startTracker(init: Omit<TrackerInit, 'dataDir' | 'clock'> = {}): Promise<TestTracker> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-tracker-'))
  const t = new TestTracker(dir, new TestClock(), {
    port: 0,
    policy: TEST_POLICY,
    heartbeatIntervalMs: 1000,
    // Tests sweep by hand: the loop must not race them.
    sweepIntervalMs: 3_600_000,
    ...init
  })
  onTestFinished(async () => {
    await t.tracker.stop()
    await rm(dir, { recursive: true, force: true })
  })
  await t.tracker.start()
  return t
}

/** Asserts an API error by status and code (never by message). */
export function expectError(response: Response<unknown>, status: number, code: string): ApiErrorBody['error'] {
  expect({ status: response.status, code: (response.body as ApiErrorBody | undefined)?.error?.code }).toEqual({
    status,
    code
  })
  return (response.body as ApiErrorBody).error
}

export function expectOk<T>(response: Response<T>, status = 200): T {
  if (response.status !== status) {
    throw new Error(`expected HTTP ${status}, got ${response.status}: ${JSON.stringify(response.body)}`)
  }
  return response.body
}

let accounts = 0

export async function signup(t: TestTracker, email = `user${++accounts}@example.com`) {
  const authKey = toBase64Url(randomBytes(32))
  const session = expectOk(
    await t.request<SessionResponse>('POST', '/v1/accounts', {
      body: { email, authKey, wrappedMasterKey: 'bWFzdGVy' }
    }),
    201
  )
  return { email, authKey, token: session.token, session }
}

/** A storage node that exists only as a real Ed25519 key sending real signed heartbeats and receipts. */
export class FakeNode {
  readonly key: PrivateKey
  readonly peerId: string
  readonly t: TestTracker
  free: number
  #lastAt = 0

  private constructor(t: TestTracker, key: PrivateKey, free: number) {
    this.t = t
    this.key = key
    this.peerId = peerIdFromPrivateKey(key).toString()
    this.free = free
  }

  static async create(t: TestTracker, free = 1_000_000_000): Promise<FakeNode> {
    return new FakeNode(t, await generateKeyPair('Ed25519'), free)
  }

  static async many(t: TestTracker, count: number, free?: number): Promise<FakeNode[]> {
    const nodes = await Promise.all(Array.from({ length: count }, () => FakeNode.create(t, free)))
    for (const node of nodes) expectOk(await node.heartbeat())
    return nodes
  }

  payload(over: Partial<HeartbeatPayload> = {}): HeartbeatPayload {
    // Strictly increasing, as a real node's clock would be between two heartbeats.
    const at = Math.max(this.t.clock.now(), this.#lastAt + 1)
    this.#lastAt = at
    return {
      v: 1,
      kind: 'heartbeat',
      node: this.peerId,
      addrs: [`/ip4/127.0.0.1/tcp/${4000 + (this.peerId.charCodeAt(10) % 1000)}`],
      capacity: 2_000_000_000,
      used: 2_000_000_000 - this.free,
      free: this.free,
      at,
      version: 'test',
      deleted: [],
      ...over
    }
  }

  async heartbeat(over: Partial<HeartbeatPayload> = {}): Promise<Response<HeartbeatResponse>> {
    return this.sendToken(await signToken(this.key, this.payload(over)))
  }

  sendToken(token: string): Promise<Response<HeartbeatResponse>> {
    return this.t.request<HeartbeatResponse>('POST', '/v1/nodes/heartbeat', { body: { token } })
  }

  /** The receipt a real node returns after storing the piece a put grant names. */
  async receipt(
    grant: string,
    over: Partial<{ size: number; serial: string; piece: string; root: string }> = {}
  ): Promise<string> {
    const g = peekToken(grant) as Grant
    return signReceipt(this.key, {
      v: 2,
      kind: 'put',
      piece: over.piece ?? g.piece,
      node: this.peerId,
      size: over.size ?? g.size,
      serial: over.serial ?? g.serial,
      root: over.root ?? TEST_ROOT,
      at: this.t.clock.now()
    })
  }
}

/** The root a test node signs unless told otherwise (tracker tests place pieces with this root, or none). */
export const TEST_ROOT = 'A'.repeat(43)

export interface UploadOptions {
  size: number
  nameHash?: string
  overwrite?: boolean
}

let names = 0

export function nameHash(): string {
  return toBase64Url(utf8(`name-${++names}-${Math.random()}`)).slice(0, 43)
}

export function beginBody(options: UploadOptions) {
  return {
    nameHash: options.nameHash ?? nameHash(),
    size: options.size,
    meta: toBase64Url(utf8('sealed metadata')),
    wrappedKey: toBase64Url(randomBytes(60)),
    nonce: toBase64Url(randomBytes(8)),
    ...(options.overwrite === undefined ? {} : { overwrite: options.overwrite })
  }
}

/** Piece CIDs of one segment: any valid CIDs do, the tracker never sees piece bytes. */
export async function segmentPieces(uploadId: string, segment: number, total: number, size: number) {
  return Promise.all(
    Array.from({ length: total }, async (_, index) => ({
      index,
      cid: (await pieceCid(utf8(`${uploadId}/${segment}/${index}/${Math.random()}`))).toString(),
      size
    }))
  )
}

export async function placeSegment(
  t: TestTracker,
  token: string,
  upload: BeginUploadResponse,
  segment: number,
  size: number
) {
  const pieces = await segmentPieces(upload.uploadId, segment, upload.k + upload.m, size)
  return expectOk(
    await t.request<PlaceSegmentResponse>('POST', `/v1/uploads/${upload.uploadId}/segments/${segment}/place`, {
      token,
      body: { pieces }
    })
  )
}

/** Receipts for a placement, signed by the nodes it names. */
export async function receiptsFor(nodes: FakeNode[], placement: PlaceSegmentResponse) {
  const byId = new Map(nodes.map((n) => [n.peerId, n]))
  return Promise.all(
    placement.pieces.map(async (p) => {
      const node = byId.get(p.node.peerId)
      if (node === undefined) throw new Error(`placed on unknown node ${p.node.peerId}`)
      return { index: p.index, cid: p.cid, node: p.node.peerId, receipt: await node.receipt(p.grant) }
    })
  )
}

/** The whole client side of an upload: begin, place and commit every segment, commit. */
export async function uploadObject(t: TestTracker, token: string, nodes: FakeNode[], options: UploadOptions) {
  const body = beginBody(options)
  const upload = expectOk(await t.request<BeginUploadResponse>('POST', '/v1/uploads', { token, body }))
  const placements: PlaceSegmentResponse[] = []
  for (let s = 0; s < upload.segmentCount; s++) {
    const size = pieceSizeOf(upload, options.size, s)
    const placement = await placeSegment(t, token, upload, s, size)
    placements.push(placement)
    expectOk(
      await t.request('POST', `/v1/uploads/${upload.uploadId}/segments/${s}/commit`, {
        token,
        body: { pieces: await receiptsFor(nodes, placement) }
      })
    )
  }
  const committed = expectOk(
    await t.request<CommitUploadResponse>('POST', `/v1/uploads/${upload.uploadId}/commit`, { token })
  )
  return { upload, placements, object: committed.object, degraded: committed.degraded, body }
}

/** Same arithmetic as core's pieceSize, written out so the test does not only check the code against itself. */
export function pieceSizeOf(upload: { k: number; segmentSize: number; segmentCount: number }, size: number, s: number) {
  const plain = s < upload.segmentCount - 1 ? upload.segmentSize : size - s * upload.segmentSize
  return Math.ceil((plain + 16) / upload.k)
}
