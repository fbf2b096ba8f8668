import { setTimeout as sleep } from 'node:timers/promises'
import type { Connection, PrivateKey, PublicKey, Stream } from '@libp2p/interface'
import {
  ByteReader,
  describeError,
  ErrorCode,
  encodeFrame,
  type Grant,
  grantFromPayload,
  MAX_SETTLEMENT_RECEIPTS,
  openToken,
  readFrame,
  type SettlementResponse,
  ShoalError,
  sendBounded,
  signToken,
  verifyGetReceipt
} from '@shoal/core'
import type { BatchOperation, Level } from 'level'
import type { Logger } from 'pino'

export interface SettlerComponents {
  peerId: string
  privateKey: PrivateKey
  trackerKey: PublicKey
  trackerUrl: string
  logger: Logger
  /** The node's level database; the queue lives in the `receipts` and `receipt-order` sublevels. */
  db: Level<string, string>
}

export interface SettlerOptions {
  /** How often queued receipts are settled; default 5 minutes. */
  intervalMs?: number
  /** Receipts kept at most while the tracker is unreachable; older ones are dropped first. */
  maxQueued?: number
  /** How long a client's delivery may take; default 30 s. */
  idleTimeoutMs?: number
  /**
   * Settle this long after the last receipt came in, without waiting for the interval (default 1 s; 0 = only
   * on the interval). A receipt is queued when a get ends, so a download's bytes reach the owner's usage about
   * a second after it ends instead of up to `intervalMs` later (issue 15: "downloaded this month" lagged).
   */
  quietMs?: number
  /**
   * With `quietMs`: a receipt waits at most this long even while others keep coming (default 30 s), so on a
   * busy node, where it is never quiet, usage still lags by seconds and not by `intervalMs`. At most one
   * settlement per `maxDelayMs` while busy: a node calls the tracker about as often as it sends heartbeats.
   */
  maxDelayMs?: number
}

export interface SettlerStats {
  queued: number
  settled: number
  settledBytes: number
  rejected: number
}

/** One queued receipt, as stored under its grant serial. */
interface Queued {
  grant: string
  receipt: string
  bytes: number
  /** The grant's expiry, to drop receipts the tracker would reject as expired without asking it. */
  exp: number
  /** Position in the `receipt-order` index: the higher, the more recently queued. */
  seq: number
}

/**
 * The tracker settles a grant's receipts until 7 days after the grant expired (SETTLEMENT_WINDOW_MS in
 * tracker/src/billing/settlement.ts) and rejects later ones as expired. The node keeps them a day longer, so a
 * node clock running ahead never drops a receipt the tracker would still pay.
 */
const KEEP_AFTER_EXPIRY_MS = 8 * 24 * 3_600_000

/** Longest receipt token queued: a signed get receipt is a few hundred characters. */
const MAX_RECEIPT_CHARS = 4096

/** Fixed-width decimal so that level's byte order is queue order. */
const seqKey = (seq: number): string => String(seq).padStart(16, '0')

function openReceipts(db: Level<string, string>) {
  return db.sublevel<string, Queued>('receipts', { valueEncoding: 'json' })
}
function openOrder(db: Level<string, string>) {
  // seqKey -> serial: the oldest receipt is the first key, so dropping the oldest reads one entry.
  return db.sublevel<string, string>('receipt-order', { valueEncoding: 'utf8' })
}

/**
 * The node's side of getting paid for egress: clients deliver their signed download receipts
 * (`/shoal/receipts/1.0.0`), the node keeps the latest per grant serial (the one covering the most bytes) and
 * settles them with the tracker in batches (POST /v1/nodes/settlements, signed with the node key). Only grants
 * the tracker signed for this node are kept; the tracker checks everything else.
 *
 * The queue is on disk, in the node's level database, and a delivery is acknowledged only once its receipts
 * are written (synced), so a crash or restart loses no acknowledged receipt: the next start settles them. A
 * settled or rejected receipt is deleted; one the tracker could not be asked about stays for the next round;
 * one whose grant expired beyond the tracker's settlement window is dropped. The queue holds at most
 * `maxQueued` receipts (oldest dropped first) and is settled by reading MAX_SETTLEMENT_RECEIPTS at a time, so
 * memory does not grow with it. A receipt is never counted twice: the tracker records each serial once.
 */
export class Settler {
  readonly #c: SettlerComponents
  readonly #log: Logger
  readonly #intervalMs: number
  readonly #maxQueued: number
  readonly #idleMs: number
  readonly #receipts: ReturnType<typeof openReceipts>
  readonly #order: ReturnType<typeof openOrder>
  readonly #stats = { settled: 0, settledBytes: 0, rejected: 0 }
  /** Receipts on disk; known once #ready() has counted them. */
  #queued = 0
  #nextSeq = 0
  #ready: Promise<void> | undefined
  /** Writes to the queue run one at a time: each reads what it replaces and keeps #queued exact. */
  #writes: Promise<unknown> = Promise.resolve()
  #loop: { controller: AbortController; done: Promise<void> } | undefined
  readonly #quietMs: number
  readonly #maxDelayMs: number
  #quietTimer: ReturnType<typeof setTimeout> | undefined
  #lastReceiptAt = 0
  /** When the oldest receipt not yet handed to a settlement came in. */
  #firstReceiptAt = 0
  #flushing: Promise<void> | undefined

  constructor(components: SettlerComponents, options: SettlerOptions = {}) {
    this.#c = components
    this.#log = components.logger
    this.#intervalMs = options.intervalMs ?? 5 * 60_000
    this.#maxQueued = options.maxQueued ?? 100_000
    this.#idleMs = options.idleTimeoutMs ?? 30_000
    this.#quietMs = options.quietMs ?? 1_000
    this.#maxDelayMs = options.maxDelayMs ?? 30_000
    this.#receipts = openReceipts(components.db)
    this.#order = openOrder(components.db)
  }

  get stats(): SettlerStats {
    return { queued: this.#queued, ...this.#stats }
  }

  /** Protocol handler for PROTOCOL_RECEIPTS. */
  readonly handle = async (stream: Stream, _connection: Connection): Promise<void> => {
    const timeout = AbortSignal.timeout(this.#idleMs)
    const onTimeout = (): void => stream.abort(new ShoalError(ErrorCode.TIMEOUT, 'receipt delivery took too long'))
    timeout.addEventListener('abort', onTimeout, { once: true })
    try {
      const reader = new ByteReader(stream)
      const accepted: Omit<Queued, 'seq'>[] = []
      const serials: string[] = []
      for (let i = 0; i < MAX_SETTLEMENT_RECEIPTS; i++) {
        const frame = await readFrame(reader)
        if (frame === undefined) break
        const checked = await this.#check(frame.grant, frame.receipt)
        if (checked === undefined) continue
        accepted.push(checked.queued)
        serials.push(checked.serial)
      }
      // Written before the answer: what the client is told was queued survives a crash.
      await this.#put(serials, accepted)
      await sendBounded(stream, [encodeFrame({ queued: accepted.length })])
      await stream.close()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      timeout.removeEventListener('abort', onTimeout)
    }
  }

  /**
   * Queues a receipt if its grant is a get grant the tracker signed for this node and still settleable;
   * returns whether it did, once the receipt is on disk.
   */
  async add(grantToken: unknown, receipt: unknown): Promise<boolean> {
    const checked = await this.#check(grantToken, receipt)
    if (checked === undefined) return false
    await this.#put([checked.serial], [checked.queued])
    return true
  }

  /**
   * Queues a receipt whose grant and signature the caller has already verified: the piece service's credit
   * window checked both on the get stream, and checking them again here was two of the five Ed25519
   * verifications a served piece cost the node (docs/transport-tuning.md, session 14).
   */
  async addVerified(grantToken: string, grant: Grant, receipt: string, bytes: number): Promise<boolean> {
    if (!this.#settleable(grant) || receipt.length > MAX_RECEIPT_CHARS || bytes === 0 || bytes > grant.size)
      return false
    await this.#put([grant.serial], [{ grant: grantToken, receipt, bytes, exp: grant.exp }])
    return true
  }

  /** A get grant for this node that names a receipt key and has not expired. */
  #settleable(grant: Grant): grant is Grant & { rk: string } {
    if (grant.kind !== 'get' || grant.node !== this.#c.peerId || grant.rk === undefined) return false
    return !expired(grant.exp, Date.now())
  }

  async #check(
    grantToken: unknown,
    receipt: unknown
  ): Promise<{ serial: string; queued: Omit<Queued, 'seq'> } | undefined> {
    if (typeof receipt !== 'string' || receipt.length > MAX_RECEIPT_CHARS) return undefined
    let grant: Grant
    try {
      grant = grantFromPayload(await openToken(grantToken, this.#c.trackerKey, ErrorCode.GRANT_INVALID, 'grant'))
    } catch {
      return undefined
    }
    if (!this.#settleable(grant)) return undefined
    // The receipt must be signed by the grant's receipt key for this serial, node and piece, and claim no more
    // than the grant allows, before it may take (or replace) the serial's place in the queue: junk claiming
    // more bytes cannot displace a valid receipt (issue 12).
    let bytes: number
    try {
      ;({ bytes } = await verifyGetReceipt(receipt, grant.rk, {
        serial: grant.serial,
        node: this.#c.peerId,
        piece: grant.piece
      }))
    } catch {
      return undefined
    }
    if (bytes === 0 || bytes > grant.size) return undefined
    return { serial: grant.serial, queued: { grant: grantToken as string, receipt, bytes, exp: grant.exp } }
  }

  /** Writes receipts (serials[i] for items[i]) in one synced batch, then drops the oldest beyond maxQueued. */
  async #put(serials: string[], items: Omit<Queued, 'seq'>[]): Promise<void> {
    if (items.length === 0) return
    await this.#open()
    await this.#exclusive(async () => {
      const current = await this.#receipts.getMany(serials)
      // Serials repeated within this delivery compare against the copy this batch writes, not the disk.
      const pending = new Map<string, Queued>()
      // Each operation is encoded by its sublevel: receipts as JSON, order entries as text.
      const ops: BatchOperation<Level<string, string>, string, string | Queued>[] = []
      let added = 0
      items.forEach((item, i) => {
        const serial = serials[i] as string
        const was = pending.get(serial) ?? current[i]
        // A later receipt for the same grant covers more bytes: keep the largest.
        if (was !== undefined && was.bytes >= item.bytes) return
        const queued: Queued = { ...item, seq: this.#nextSeq++ }
        if (was === undefined) added++
        else ops.push({ type: 'del', sublevel: this.#order, key: seqKey(was.seq) })
        ops.push({ type: 'put', sublevel: this.#receipts, key: serial, value: queued })
        ops.push({ type: 'put', sublevel: this.#order, key: seqKey(queued.seq), value: serial })
        pending.set(serial, queued)
      })
      if (ops.length === 0) return
      // Synced: the client is told these are queued once this returns, and a lost receipt is lost money.
      await this.#c.db.batch<string, string | Queued>(ops, { sync: true })
      this.#queued += added
      await this.#dropOldest()
    })
    this.#settleWhenQuiet()
  }

  /**
   * A flush once no receipt has come in for `quietMs`, or `maxDelayMs` after the first one waiting, whichever
   * comes first. Receipts arrive many times a second during a download: each only notes the time, and one
   * timer, when it fires early, waits out the rest (as Watchdog does).
   */
  #settleWhenQuiet(): void {
    if (this.#quietMs <= 0 || this.#loop === undefined) return
    const now = Date.now()
    this.#lastReceiptAt = now
    if (this.#quietTimer === undefined) {
      this.#firstReceiptAt = now
      this.#armQuiet(Math.min(this.#quietMs, this.#maxDelayMs))
    }
  }

  #armQuiet(ms: number): void {
    this.#quietTimer = setTimeout(() => {
      const now = Date.now()
      const quietLeft = this.#quietMs - (now - this.#lastReceiptAt)
      const delayLeft = this.#maxDelayMs - (now - this.#firstReceiptAt)
      if (quietLeft > 0 && delayLeft > 0) {
        this.#armQuiet(Math.min(quietLeft, delayLeft))
        return
      }
      this.#quietTimer = undefined
      this.flush().catch((err: unknown) => this.#log.warn({ err: describeError(err) }, 'settlement failed'))
    }, ms)
    // A pending settlement never keeps the process alive: stop() settles what is left.
    this.#quietTimer.unref()
  }

  /** Deletes the oldest receipts beyond maxQueued; runs inside #exclusive. */
  async #dropOldest(): Promise<void> {
    let excess = this.#queued - this.#maxQueued
    while (excess > 0) {
      const oldest = await this.#order.iterator({ limit: Math.min(excess, MAX_SETTLEMENT_RECEIPTS) }).all()
      if (oldest.length === 0) break
      await this.#c.db.batch(
        oldest.flatMap(([key, serial]) => [
          { type: 'del' as const, sublevel: this.#order, key },
          { type: 'del' as const, sublevel: this.#receipts, key: serial }
        ])
      )
      this.#queued -= oldest.length
      excess -= oldest.length
      this.#log.warn({ dropped: oldest.length, maxQueued: this.#maxQueued }, 'receipt queue full: oldest dropped')
    }
  }

  /** Deletes `items` if the queue still holds them as they were read (not replaced meanwhile). */
  async #remove(items: { serial: string; seq: number }[]): Promise<void> {
    if (items.length === 0) return
    await this.#exclusive(async () => {
      const current = await this.#receipts.getMany(items.map((item) => item.serial))
      const gone = items.filter((item, i) => current[i]?.seq === item.seq)
      if (gone.length === 0) return
      await this.#c.db.batch(
        gone.flatMap((item) => [
          { type: 'del' as const, sublevel: this.#receipts, key: item.serial },
          { type: 'del' as const, sublevel: this.#order, key: seqKey(item.seq) }
        ])
      )
      this.#queued -= gone.length
    })
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(fn)
    this.#writes = run.catch(() => undefined)
    return run
  }

  /** Counts what a previous run left on disk and resumes the order index after it; once. */
  #open(): Promise<void> {
    this.#ready ??= this.#exclusive(async () => {
      let queued = 0
      for await (const _ of this.#order.keys()) queued++
      this.#queued = queued
      const [last] = await this.#order.keys({ reverse: true, limit: 1 }).all()
      this.#nextSeq = last === undefined ? 0 : Number(last) + 1
      if (queued > 0) this.#log.info({ queued }, 'receipts from an earlier run queued for settlement')
      await this.#dropOldest()
    }).catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  /** Settles everything queued now, in batches; concurrent calls share one run. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined
    })
    return this.#flushing
  }

  async #flush(): Promise<void> {
    await this.#open()
    // Receipts queued while this runs wait for the next round: a steady stream of deliveries cannot keep one
    // flush going forever.
    const end = seqKey(this.#nextSeq)
    let after: string | undefined
    for (;;) {
      const page = await this.#order
        .iterator({ ...(after === undefined ? {} : { gt: after }), lt: end, limit: MAX_SETTLEMENT_RECEIPTS })
        .all()
      if (page.length === 0) return
      after = page[page.length - 1]?.[0]
      const values = await this.#receipts.getMany(page.map(([, serial]) => serial))
      const now = Date.now()
      const batch: { serial: string; queued: Queued }[] = []
      const stale: { serial: string; seq: number }[] = []
      page.forEach(([key, serial], i) => {
        const queued = values[i]
        // Replaced since the page was read: the newer copy has a later key and comes in a later round.
        if (queued === undefined || seqKey(queued.seq) !== key) return
        if (expired(queued.exp, now)) stale.push({ serial, seq: queued.seq })
        else batch.push({ serial, queued })
      })
      if (stale.length > 0) {
        await this.#remove(stale)
        this.#log.warn({ dropped: stale.length }, 'dropped receipts the tracker would reject as expired')
      }
      if (batch.length > 0) await this.#settle(batch)
    }
  }

  async #settle(batch: { serial: string; queued: Queued }[]): Promise<void> {
    const token = await signToken(this.#c.privateKey, {
      v: 1,
      kind: 'settlement',
      node: this.#c.peerId,
      at: Date.now(),
      receipts: batch.map(({ queued }) => ({ grant: queued.grant, receipt: queued.receipt }))
    })
    const response = await fetch(`${this.#c.trackerUrl}/v1/nodes/settlements`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
      signal: AbortSignal.timeout(30_000)
    })
    if (!response.ok) {
      // Nothing is deleted: the tracker did not answer for these receipts, so they wait for the next round.
      throw new ShoalError(ErrorCode.TRACKER_UNREACHABLE, `settlement refused: HTTP ${response.status}`, {
        details: { status: response.status, body: (await response.text()).slice(0, 500) }
      })
    }
    const result = (await response.json()) as SettlementResponse
    const accepted = new Set(result.accepted)
    // Accepted and rejected alike are done: the tracker never accepts a rejected receipt later.
    await this.#remove(batch.map(({ serial, queued }) => ({ serial, seq: queued.seq })))
    for (const { serial, queued } of batch) {
      if (!accepted.has(serial)) continue
      this.#stats.settled++
      this.#stats.settledBytes += queued.bytes
    }
    this.#stats.rejected += result.rejected.length
    this.#log.info({ accepted: result.accepted.length, rejected: result.rejected.length }, 'receipts settled')
  }

  /** Loads the queue a previous run left and starts settling on the interval. */
  async start(): Promise<void> {
    if (this.#loop !== undefined) return
    const controller = new AbortController()
    const run = async (): Promise<void> => {
      while (!controller.signal.aborted) {
        try {
          await sleep(this.#intervalMs, undefined, { signal: controller.signal })
        } catch {
          return
        }
        await this.flush().catch((err: unknown) => this.#log.warn({ err: describeError(err) }, 'settlement failed'))
      }
    }
    this.#loop = { controller, done: run() }
    await this.#open()
  }

  /** Stops the loop, settles what is queued, once, and waits for queue writes to finish. */
  async stop(): Promise<void> {
    const loop = this.#loop
    this.#loop = undefined
    clearTimeout(this.#quietTimer)
    this.#quietTimer = undefined
    loop?.controller.abort()
    await loop?.done
    if (this.#ready !== undefined && this.#queued > 0) {
      await this.flush().catch((err: unknown) =>
        this.#log.warn(
          { err: describeError(err), queued: this.#queued },
          'final settlement failed; kept for the next start'
        )
      )
    }
    // Deliveries still being written finish before the caller closes the database.
    await this.#writes
  }
}

/** Whether the tracker would reject a receipt for a grant expiring at `exp` as expired. */
function expired(exp: number, now: number): boolean {
  return now > exp + KEEP_AFTER_EXPIRY_MS
}

/** The byte count a receipt claims (unverified: only to keep the largest per serial). */
