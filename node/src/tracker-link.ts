import type { PrivateKey, PublicKey } from '@libp2p/interface'
import {
  backoffMs,
  type DeleteOrder,
  describeError,
  ErrorCode,
  type HeartbeatPayload,
  type HeartbeatResponse,
  isAbort,
  isShoalError,
  type NodeAddress,
  ShoalError,
  signToken,
  sleep
} from '@shoal/core'
import type { Logger } from 'pino'
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  MAX_DELETES_PER_HEARTBEAT,
  MAX_HEARTBEAT_PEERS,
  MAX_REPORTED_DELETES,
  NODE_VERSION,
  TRACKER_REQUEST_TIMEOUT_MS,
  TRACKER_RETRY_MAX_MS,
  TRACKER_RETRY_MIN_MS
} from './constants.ts'
import { decodePublicKey, trackerEndpoint } from './tracker-key.ts'

export interface NodeUsage {
  capacity: number
  used: number
  /** Capacity left, bounded by the disk's free space. */
  free: number
}

export interface TrackerLinkComponents {
  trackerUrl: string
  peerId: string
  /** Signs heartbeats: the tracker checks them against the public key inside the peer id. */
  privateKey: PrivateKey
  /** The pinned tracker key: heartbeat answers naming another key are reported, deletes must verify with it. */
  trackerKey: PublicKey
  logger: Logger
  /** Own listen addresses, without /p2p. */
  addrs(): string[]
  usage(): Promise<NodeUsage>
  /** Peers to bootstrap the DHT from. */
  onPeers(peers: NodeAddress[], signal: AbortSignal): Promise<void>
  /** Carries out one delete order; its serial comes back through reportDeleted. */
  onDeleteOrder(order: DeleteOrder): Promise<unknown>
}

export interface TrackerLinkInit {
  /** Overrides the interval the tracker asks for. */
  intervalMs?: number
}

export interface TrackerLinkStats {
  heartbeats: number
  failures: number
  lastHeartbeatAt: number | undefined
  /** Delete serials waiting for the tracker's acknowledgement. */
  unreportedDeletes: number
  /** Why the latest heartbeat failed; undefined once one succeeds (readiness reports it). */
  lastError: { at: number; code: string; message: string } | undefined
}

/**
 * The node's link to the tracker: a signed heartbeat right at start and then at the tracker's interval,
 * carrying addresses, capacity and the delete serials carried out since the last acknowledged heartbeat. The
 * answer brings peers (DHT bootstrap) and delete orders. An unreachable tracker is retried with backoff, never
 * fatal: the node keeps serving.
 */
export class TrackerLink {
  readonly #c: TrackerLinkComponents
  readonly #intervalOverride: number | undefined
  /** Insertion-ordered: the oldest serials are reported first. */
  readonly #deleted = new Set<string>()
  #controller: AbortController | undefined
  #loop: Promise<void> | undefined
  readonly #stats: TrackerLinkStats = {
    heartbeats: 0,
    failures: 0,
    lastHeartbeatAt: undefined,
    unreportedDeletes: 0,
    lastError: undefined
  }

  constructor(components: TrackerLinkComponents, init: TrackerLinkInit = {}) {
    this.#c = components
    this.#intervalOverride = init.intervalMs
  }

  get stats(): TrackerLinkStats {
    return { ...this.#stats, unreportedDeletes: this.#deleted.size }
  }

  start(): void {
    if (this.#controller !== undefined) return
    this.#controller = new AbortController()
    this.#loop = this.#run(this.#controller.signal)
  }

  async stop(): Promise<void> {
    const controller = this.#controller
    if (controller === undefined) return
    this.#controller = undefined
    controller.abort()
    await this.#loop
    this.#loop = undefined
  }

  /** Remembers a carried-out delete until a heartbeat that reported it is acknowledged. */
  reportDeleted(serial: string): void {
    this.#deleted.add(serial)
  }

  async #run(signal: AbortSignal): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      let wait: number
      try {
        const intervalMs = await this.#beat(signal)
        failures = 0
        wait = this.#intervalOverride ?? intervalMs
      } catch (err) {
        if (isAbort(err, signal)) break
        this.#stats.failures++
        this.#stats.lastError = {
          at: Date.now(),
          code: isShoalError(err) ? err.code : ErrorCode.INTERNAL,
          message: describeError(err)
        }
        wait = backoffMs(failures++, TRACKER_RETRY_MIN_MS, TRACKER_RETRY_MAX_MS)
        if (isShoalError(err) && err.code === ErrorCode.NODE_NOT_REACHABLE) {
          // Not a passing failure: the operator has to change the network or --announce (the message says how).
          this.#c.logger.error({ code: err.code, err: err.message, retryInMs: wait }, 'not admitted by the tracker')
        } else {
          this.#c.logger.warn({ err: describeError(err), retryInMs: wait }, 'heartbeat failed: will retry')
        }
      }
      try {
        await sleep(wait, signal)
      } catch {
        break
      }
    }
  }

  /** One heartbeat; returns the interval the tracker asks for. */
  async #beat(signal: AbortSignal): Promise<number> {
    const deleted = [...this.#deleted].slice(0, MAX_REPORTED_DELETES)
    const usage = await this.#c.usage()
    const payload: HeartbeatPayload = {
      v: 1,
      kind: 'heartbeat',
      node: this.#c.peerId,
      addrs: this.#c.addrs(),
      capacity: usage.capacity,
      used: usage.used,
      free: usage.free,
      at: Date.now(),
      version: NODE_VERSION,
      deleted
    }
    const token = await signToken(this.#c.privateKey, payload)
    const url = trackerEndpoint(this.#c.trackerUrl, 'v1/nodes/heartbeat')
    let res: Response
    let body: unknown
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(TRACKER_REQUEST_TIMEOUT_MS)])
      })
      body = await res.json().catch(() => undefined)
    } catch (cause) {
      signal.throwIfAborted()
      throw new ShoalError(ErrorCode.TRACKER_UNREACHABLE, `cannot reach ${url}: ${describeError(cause)}`, { cause })
    }
    if (!res.ok) {
      const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
      if (error?.code === ErrorCode.NODE_NOT_REACHABLE) {
        // The tracker's message says which addresses it tried and what the operator can do about it.
        throw new ShoalError(ErrorCode.NODE_NOT_REACHABLE, `tracker refused the node: ${String(error.message)}`)
      }
      throw new ShoalError(
        ErrorCode.TRACKER_UNREACHABLE,
        `tracker refused the heartbeat: HTTP ${res.status} ${String(error?.code ?? '')} ${String(error?.message ?? '')}`.trim()
      )
    }
    const answer = parseHeartbeatResponse(body)
    for (const serial of deleted) this.#deleted.delete(serial)
    this.#stats.heartbeats++
    this.#stats.lastHeartbeatAt = Date.now()
    this.#stats.lastError = undefined

    if (answer.trackerKey !== undefined) {
      let same = false
      try {
        same = decodePublicKey(answer.trackerKey).equals(this.#c.trackerKey)
      } catch {
        same = false
      }
      if (!same) {
        this.#c.logger.error(
          { presented: answer.trackerKey },
          'tracker presents a key other than the pinned one: its grants will be refused'
        )
      }
    }
    if (answer.peers.length > 0) {
      try {
        await this.#c.onPeers(answer.peers.slice(0, MAX_HEARTBEAT_PEERS), signal)
      } catch (err) {
        if (isAbort(err, signal)) throw err
        this.#c.logger.debug({ err: describeError(err) }, 'could not use the peers from a heartbeat')
      }
    }
    for (const order of answer.deletes.slice(0, MAX_DELETES_PER_HEARTBEAT)) {
      signal.throwIfAborted()
      try {
        await this.#c.onDeleteOrder(order)
      } catch (err) {
        const code = err instanceof ShoalError ? err.code : ErrorCode.INTERNAL
        this.#c.logger.warn({ piece: order.piece, code, err: describeError(err) }, 'delete order refused')
      }
    }
    return answer.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS
  }
}

interface ParsedHeartbeatResponse {
  trackerKey: string | undefined
  intervalMs: number | undefined
  peers: NodeAddress[]
  deletes: DeleteOrder[]
}

/** The answer comes from the network: keep only well-formed entries. */
function parseHeartbeatResponse(body: unknown): ParsedHeartbeatResponse {
  if (body === null || typeof body !== 'object') {
    throw new ShoalError(ErrorCode.PROTOCOL, 'heartbeat answer is not a JSON object')
  }
  const b = body as Partial<Record<keyof HeartbeatResponse, unknown>>
  const interval = b.intervalMs
  const peers = Array.isArray(b.peers) ? b.peers : []
  const deletes = Array.isArray(b.deletes) ? b.deletes : []
  return {
    trackerKey: typeof b.trackerKey === 'string' ? b.trackerKey : undefined,
    // A tracker cannot make a node hammer it or go silent for days.
    intervalMs:
      typeof interval === 'number' && Number.isFinite(interval)
        ? Math.min(Math.max(interval, 100), 3_600_000)
        : undefined,
    peers: peers.filter(
      (p): p is NodeAddress =>
        p !== null &&
        typeof p === 'object' &&
        typeof (p as NodeAddress).peerId === 'string' &&
        Array.isArray((p as NodeAddress).addrs) &&
        (p as NodeAddress).addrs.every((a) => typeof a === 'string')
    ),
    deletes: deletes.filter(
      (d): d is DeleteOrder =>
        d !== null &&
        typeof d === 'object' &&
        typeof (d as DeleteOrder).piece === 'string' &&
        typeof (d as DeleteOrder).grant === 'string'
    )
  }
}
