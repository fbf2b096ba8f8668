import type { PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  ErrorCode,
  type HeartbeatResponse,
  MAX_HEARTBEAT_TOKEN_LENGTH,
  type NodeAddress,
  type NodeView,
  openTokenWithLimit,
  peekToken,
  ShoalError
} from '@shoal/core'
import type { TrackerConfig } from './config.ts'
import {
  HEARTBEAT_MAX_SKEW_MS,
  MAX_HEARTBEAT_DELETES,
  MAX_HEARTBEAT_PEERS,
  OFFLINE_AFTER_INTERVALS
} from './constants.ts'
import type { GrantSigner } from './grants.ts'
import { choosePlacement } from './placement.ts'
import type { NodeRecord, Store } from './store/store.ts'
import { parseHeartbeatPayload } from './validate.ts'

export interface NodeRegistryComponents {
  store: Store
  config: TrackerConfig
  signer: GrantSigner
  /** base64url protobuf of the tracker's public key, as in /v1/info. */
  trackerKey: string
}

/** Put grants handed out for a node but not yet visible in its heartbeats. */
interface PendingGrant {
  bytes: number
  at: number
}

/**
 * The registry of storage nodes: heartbeats in, online status and placement out. Nodes authenticate with the
 * Ed25519 key inside their peer id, so no node has to register first.
 */
export class NodeRegistry {
  readonly #store: Store
  readonly #config: TrackerConfig
  readonly #signer: GrantSigner
  readonly #trackerKey: string
  /**
   * Bytes granted per node since its last heartbeats. Kept in memory on purpose: it is an estimate that only
   * stops one busy moment from sending every piece to the same emptiest node, and heartbeats correct it.
   */
  readonly #pending = new Map<string, PendingGrant[]>()

  constructor(components: NodeRegistryComponents) {
    this.#store = components.store
    this.#config = components.config
    this.#signer = components.signer
    this.#trackerKey = components.trackerKey
  }

  async heartbeat(token: string): Promise<HeartbeatResponse> {
    const payload = parseHeartbeatPayload(
      await openTokenWithLimit(token, nodeKey(token), ErrorCode.UNAUTHORIZED, 'heartbeat', MAX_HEARTBEAT_TOKEN_LENGTH)
    )
    const now = this.#config.clock.now()
    const skew = payload.at - now
    if (Math.abs(skew) > HEARTBEAT_MAX_SKEW_MS) {
      throw new ShoalError(
        ErrorCode.INVALID_INPUT,
        `heartbeat time is ${Math.round(skew / 1000)} s off the tracker's clock: check the node's clock`,
        {
          details: { field: 'token.at', reason: 'clock-skew', skewMs: skew }
        }
      )
    }
    const record: NodeRecord = {
      peerId: payload.node,
      addrs: payload.addrs,
      capacity: payload.capacity,
      used: payload.used,
      free: payload.free,
      version: payload.version,
      lastSeen: now,
      lastAt: payload.at
    }
    if (!(await this.#store.recordHeartbeat(record, payload.deleted))) {
      throw new ShoalError(ErrorCode.CONFLICT, 'heartbeat is not newer than the last one from this node', {
        details: { reason: 'replay' }
      })
    }
    this.#settlePending(payload.node, now)
    const peers = shuffle((await this.online()).filter((n) => n.peerId !== payload.node))
      .slice(0, MAX_HEARTBEAT_PEERS)
      .map(address)
    const orders = await this.#store.listDeleteOrders(payload.node, MAX_HEARTBEAT_DELETES)
    const deletes = await Promise.all(orders.map((order) => this.#signer.signDelete(order)))
    return { trackerKey: this.#trackerKey, intervalMs: this.#config.heartbeatIntervalMs, peers, deletes }
  }

  isOnline(node: NodeRecord, now = this.#config.clock.now()): boolean {
    return now - node.lastSeen <= OFFLINE_AFTER_INTERVALS * this.#config.heartbeatIntervalMs
  }

  async online(): Promise<NodeRecord[]> {
    const now = this.#config.clock.now()
    return (await this.#store.listNodes()).filter((n) => this.isOnline(n, now))
  }

  async list(): Promise<NodeView[]> {
    const now = this.#config.clock.now()
    return (await this.#store.listNodes()).map((n) => ({
      peerId: n.peerId,
      addrs: n.addrs,
      online: this.isOnline(n, now),
      capacity: n.capacity,
      used: n.used,
      free: n.free,
      lastSeen: n.lastSeen,
      version: n.version
    }))
  }

  /** Addresses of all known nodes, with their online status (unknown nodes are left out). */
  async addresses(): Promise<Map<string, NodeAddress & { online: boolean }>> {
    const now = this.#config.clock.now()
    const out = new Map<string, NodeAddress & { online: boolean }>()
    for (const n of await this.#store.listNodes()) out.set(n.peerId, { ...address(n), online: this.isOnline(n, now) })
    return out
  }

  /** Free bytes of each online node, less what was granted and not yet reported. */
  async freeSpace(): Promise<number[]> {
    return (await this.#candidates([])).map((c) => c.free)
  }

  /**
   * Chooses `count` nodes for the pieces of one segment (see choosePlacement; `previous` are the nodes of an
   * earlier placement, by piece index) and counts the bytes against them until their heartbeats catch up.
   * ERR_NOT_ENOUGH_NODES (details: needed, available) when there are too few.
   */
  async place(
    count: number,
    pieceSize: number,
    rotation: number,
    exclude: readonly string[],
    previous: readonly (string | undefined)[] = []
  ): Promise<NodeRecord[]> {
    const candidates = await this.#candidates(exclude)
    const chosen = choosePlacement(candidates, count, pieceSize, rotation, previous)
    if (chosen === undefined) {
      const available = candidates.filter((c) => c.free >= pieceSize).length
      throw new ShoalError(ErrorCode.NOT_ENOUGH_NODES, `${count} storage nodes needed, ${available} available`, {
        details: { needed: count, available }
      })
    }
    const now = this.#config.clock.now()
    const nodes = new Map(candidates.map((c) => [c.peerId, c.node]))
    return chosen.map((peerId) => {
      const list = this.#pending.get(peerId) ?? []
      list.push({ bytes: pieceSize, at: now })
      this.#pending.set(peerId, list)
      return nodes.get(peerId) as NodeRecord
    })
  }

  async #candidates(exclude: readonly string[]): Promise<{ peerId: string; free: number; node: NodeRecord }[]> {
    const skip = new Set(exclude)
    const now = this.#config.clock.now()
    return (await this.online())
      .filter((n) => !skip.has(n.peerId))
      .map((node) => ({ peerId: node.peerId, free: node.free - this.#pendingBytes(node.peerId, now), node }))
  }

  #pendingBytes(peerId: string, now: number): number {
    const list = this.#pending.get(peerId)
    if (list === undefined) return 0
    // A grant nobody used is void once it expires.
    const live = list.filter((p) => p.at > now - this.#config.grantTtlMs)
    if (live.length === 0) this.#pending.delete(peerId)
    else if (live.length !== list.length) this.#pending.set(peerId, live)
    return live.reduce((sum, p) => sum + p.bytes, 0)
  }

  /**
   * A heartbeat reports what the node stores now. Grants at least one interval older than it have had time to
   * be used and show up in `free` (or never will be), so they stop counting.
   */
  #settlePending(peerId: string, now: number): void {
    const list = this.#pending.get(peerId)
    if (list === undefined) return
    const live = list.filter((p) => p.at > now - this.#config.heartbeatIntervalMs)
    if (live.length === 0) this.#pending.delete(peerId)
    else this.#pending.set(peerId, live)
  }
}

/** The public key that must have signed a heartbeat: the one inside the peer id it claims to come from. */
function nodeKey(token: string): PublicKey {
  const invalid = (message: string, cause?: unknown) =>
    new ShoalError(ErrorCode.INVALID_INPUT, message, { cause, details: { field: 'token' } })
  let node: unknown
  try {
    node = (peekToken(token) as { node?: unknown } | null)?.node
  } catch (cause) {
    throw invalid('heartbeat token is malformed', cause)
  }
  if (typeof node !== 'string' || node.length === 0 || node.length > 128) throw invalid('heartbeat names no node')
  let key: PublicKey | undefined
  try {
    key = peerIdFromString(node).publicKey
  } catch (cause) {
    throw invalid(`heartbeat node ${node.slice(0, 80)} is not a peer id`, cause)
  }
  if (key === undefined) throw invalid(`peer id ${node} does not embed its public key (use an Ed25519 key)`)
  return key
}

function address(node: NodeRecord): NodeAddress {
  return { peerId: node.peerId, addrs: node.addrs }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}
