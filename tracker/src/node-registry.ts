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
import { HEARTBEAT_MAX_SKEW_MS, MAX_HEARTBEAT_DELETES, MAX_HEARTBEAT_PEERS } from './constants.ts'
import type { GrantSigner } from './grants.ts'
import type { NodeAdmission } from './node-admission.ts'
import type { NodeStanding } from './ops/reputations.ts'
import { type LoopbackSubnets, subnetOf } from './ops/subnet.ts'
import { choosePlacement, distinctSubnets, type PlacementCandidate } from './placement.ts'
import type { NodeRecord, StoreParts } from './store/store.ts'
import { parseHeartbeatPayload } from './validate.ts'

/** How long the registry reuses the node table it read (tracker time). */
const VIEW_TTL_MS = 1000

interface NodeTableView {
  /** Tracker time and monotonic time of the read: it is stale once either has moved VIEW_TTL_MS on. */
  at: number
  atMono: number
  nodes: Promise<Map<string, NodeRecord>>
  addresses: Promise<Map<string, NodeAddress & { online: boolean }>>
}

export interface NodeRegistryComponents {
  store: StoreParts<'nodes'>
  config: TrackerConfig
  signer: GrantSigner
  /** base64url protobuf of the tracker's public key, as in /v1/info. */
  trackerKey: string
  /** A node's reputation for placement (see ops/reputations.ts); default: every node in good standing. */
  standing?: (peerId: string) => NodeStanding
  /** How nodes that heartbeat over loopback are grouped into failure domains; default 'node'. */
  loopbackSubnets?: LoopbackSubnets
  /** Share of a segment's pieces unvetted nodes may get while vetted ones have room; default 1 (no limit). */
  newNodeFraction?: number
  /** Dials nodes back before they are listed (node-admission.ts); default none: heartbeats are taken at their word. */
  admission?: NodeAdmission
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
  readonly #store: StoreParts<'nodes'>
  readonly #config: TrackerConfig
  readonly #signer: GrantSigner
  readonly #trackerKey: string
  readonly #standing: ((peerId: string) => NodeStanding) | undefined
  readonly #loopbackSubnets: LoopbackSubnets
  readonly #newNodeFraction: number
  readonly #admission: NodeAdmission | undefined
  /**
   * Bytes granted per node since its last heartbeats. Kept in memory on purpose: it is an estimate that only
   * stops one busy moment from sending every piece to the same emptiest node, and heartbeats correct it.
   */
  readonly #pending = new Map<string, PendingGrants>()
  /**
   * The node table as this process last read it, for VIEW_TTL_MS (of tracker time and of real time: a test clock
   * that stands still must not freeze it, and one that jumps must refresh it), with its address map built
   * once per read: placement, /v1/info, node listings and every download-grant request read this view, never
   * the table. It changes only with heartbeats: this process's own are patched in at once, another tracker's
   * show up within the TTL. Reading 1,000 nodes once a second costs less than one scan per request.
   */
  #view: NodeTableView | undefined

  constructor(components: NodeRegistryComponents) {
    this.#store = components.store
    this.#config = components.config
    this.#signer = components.signer
    this.#trackerKey = components.trackerKey
    this.#standing = components.standing
    this.#loopbackSubnets = components.loopbackSubnets ?? 'node'
    this.#newNodeFraction = components.newNodeFraction ?? 1
    this.#admission = components.admission
  }

  /** `source`: the address the heartbeat came from, which decides the node's subnet (see subnetOf). */
  async heartbeat(token: string, source?: string): Promise<HeartbeatResponse> {
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
    // Only addresses where the node answered as itself are listed; none: refused (ERR_NODE_NOT_REACHABLE).
    const addrs =
      this.#admission === undefined ? payload.addrs : await this.#admission.admit(payload.node, payload.addrs, source)
    const record: NodeRecord = {
      peerId: payload.node,
      addrs,
      capacity: payload.capacity,
      used: payload.used,
      // Free space is the node's claim; it can at least not exceed what its own capacity and usage allow.
      free: Math.min(payload.free, Math.max(0, payload.capacity - payload.used)),
      version: payload.version,
      lastSeen: now,
      lastAt: payload.at,
      subnet: subnetOf(source, addrs, payload.node, this.#loopbackSubnets)
    }
    if (!(await this.#store.nodes.recordHeartbeat(record, payload.deleted))) {
      throw new ShoalError(ErrorCode.CONFLICT, 'heartbeat is not newer than the last one from this node', {
        details: { reason: 'replay' }
      })
    }
    const view = this.#view
    if (view !== undefined) {
      // This process shows its own heartbeats at once: patched into the view, not by reading every node
      // again (which would cost every heartbeat the whole network).
      void view.nodes.then(
        (m) => m.set(record.peerId, record),
        () => {}
      )
      void view.addresses.then(
        (m) => m.set(record.peerId, { ...address(record), online: true }),
        () => {}
      )
    }
    this.#settlePending(payload.node, now)
    const others = [...(await this.addresses()).values()].filter((n) => n.online && n.peerId !== payload.node)
    const peers = shuffle(others)
      .slice(0, MAX_HEARTBEAT_PEERS)
      .map((n) => ({ peerId: n.peerId, addrs: n.addrs }))
    const orders = await this.#store.nodes.listDeleteOrders(payload.node, MAX_HEARTBEAT_DELETES)
    const deletes = await Promise.all(orders.map((order) => this.#signer.signDelete(order)))
    return { trackerKey: this.#trackerKey, intervalMs: this.#config.heartbeatIntervalMs, peers, deletes }
  }

  isOnline(node: NodeRecord, now = this.#config.clock.now()): boolean {
    return now - node.lastSeen <= this.#config.offlineAfterMs
  }

  /** The node view (see #view), read again from the store once it is VIEW_TTL_MS old, or at once if `fresh`. */
  #current(fresh = false): NodeTableView {
    const now = this.#config.clock.now()
    const mono = performance.now()
    const cached = this.#view
    if (
      !fresh &&
      cached !== undefined &&
      now - cached.at >= 0 &&
      now - cached.at < VIEW_TTL_MS &&
      mono - cached.atMono < VIEW_TTL_MS
    ) {
      return cached
    }
    const nodes = this.#store.nodes.listNodes().then((list) => new Map(list.map((n) => [n.peerId, n])))
    const addresses = nodes.then((m) => {
      const out = new Map<string, NodeAddress & { online: boolean }>()
      for (const n of m.values()) out.set(n.peerId, { ...address(n), online: this.isOnline(n, now) })
      return out
    })
    const view = { at: now, atMono: mono, nodes, addresses }
    this.#view = view
    nodes.catch(() => {
      if (this.#view === view) this.#view = undefined
    })
    return view
  }

  /** Every known node, from the view. */
  async #nodes(): Promise<NodeRecord[]> {
    return [...(await this.#current().nodes).values()]
  }

  async online(): Promise<NodeRecord[]> {
    const now = this.#config.clock.now()
    return (await this.#nodes()).filter((n) => this.isOnline(n, now))
  }

  async list(): Promise<NodeView[]> {
    const now = this.#config.clock.now()
    return (await this.#nodes()).map((n) => ({
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

  /**
   * Addresses of all known nodes, with their online status as of the read (unknown nodes are left out), built
   * once per view: grant requests would otherwise pay for every node in the network.
   */
  addresses(): Promise<ReadonlyMap<string, NodeAddress & { online: boolean }>> {
    return this.#current().addresses
  }

  /** Reads the node table again now (the caller found too few nodes in the view: another tracker may know more). */
  refresh(): void {
    this.#current(true)
  }

  /** Free bytes of each online node, less what was granted and not yet reported. */
  async freeSpace(): Promise<number[]> {
    // One entry per subnet (its roomiest node): a segment can use each subnet once.
    const best = new Map<string, number>()
    for (const c of await this.#candidates([])) {
      const key = c.subnet ?? c.peerId
      best.set(key, Math.max(best.get(key) ?? 0, c.free))
    }
    return [...best.values()]
  }

  /** Failure domains that could take a piece of `pieceSize` bytes now, leaving out `exclude`. */
  async available(pieceSize: number, exclude: readonly string[]): Promise<number> {
    return distinctSubnets(await this.#candidates(exclude), pieceSize)
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
    const choose = async () => {
      const candidates = await this.#candidates(exclude)
      const options = { newNodeFraction: this.#newNodeFraction }
      return { candidates, chosen: choosePlacement(candidates, count, pieceSize, rotation, previous, options) }
    }
    let { candidates, chosen } = await choose()
    if (chosen === undefined) {
      // The view may predate nodes that joined through another tracker: read the table once before refusing.
      this.refresh()
      ;({ candidates, chosen } = await choose())
    }
    if (chosen === undefined) {
      // Nodes in one subnet count once: no segment may have two pieces there.
      const available = distinctSubnets(candidates, pieceSize)
      throw new ShoalError(ErrorCode.NOT_ENOUGH_NODES, `${count} storage nodes needed, ${available} available`, {
        details: { needed: count, available }
      })
    }
    const now = this.#config.clock.now()
    const nodes = new Map(candidates.map((c) => [c.peerId, c.node]))
    return chosen.map((peerId) => {
      const pending = this.#pending.get(peerId) ?? new PendingGrants()
      this.#pending.set(peerId, pending)
      pending.add(pieceSize, now)
      return nodes.get(peerId) as NodeRecord
    })
  }

  /**
   * Nodes for `count` more pieces of a segment whose other pieces stay on `keep`: none of `avoid` or `keep`, and
   * none in a subnet of `keep`. For repair; ERR_NOT_ENOUGH_NODES when there are too few.
   */
  async placeBeside(
    count: number,
    pieceSize: number,
    rotation: number,
    keep: readonly string[],
    avoid: readonly string[]
  ): Promise<NodeRecord[]> {
    const choose = async () => {
      const known = await this.#current().nodes
      const takenSubnets = keep.map((id) => known.get(id)?.subnet ?? `node:${id}`)
      const candidates = await this.#candidates([...avoid, ...keep])
      const options = { newNodeFraction: this.#newNodeFraction, takenSubnets }
      return { candidates, chosen: choosePlacement(candidates, count, pieceSize, rotation, [], options) }
    }
    let { candidates, chosen } = await choose()
    if (chosen === undefined) {
      // As in place(): the view may predate nodes that joined through another tracker.
      this.refresh()
      ;({ candidates, chosen } = await choose())
    }
    if (chosen === undefined) {
      throw new ShoalError(ErrorCode.NOT_ENOUGH_NODES, `${count} more storage nodes in new subnets needed`, {
        details: { needed: count }
      })
    }
    const nodes = new Map(candidates.map((c) => [c.peerId, c.node]))
    return chosen.map((peerId) => nodes.get(peerId) as NodeRecord)
  }

  async #candidates(exclude: readonly string[]): Promise<(PlacementCandidate & { node: NodeRecord })[]> {
    const skip = new Set(exclude)
    const now = this.#config.clock.now()
    return (await this.online())
      .filter((n) => !skip.has(n.peerId))
      .flatMap((node) => {
        const standing = this.#standing?.(node.peerId)
        // Disqualified and leaving nodes get no new pieces.
        if (standing?.disqualified === true || standing?.exiting === true) return []
        return [
          {
            peerId: node.peerId,
            free: node.free - this.#pendingBytes(node.peerId, now),
            subnet: node.subnet ?? `node:${node.peerId}`,
            vetted: standing?.vetted ?? true,
            score: standing?.score ?? 1,
            node
          }
        ]
      })
  }

  #pendingBytes(peerId: string, now: number): number {
    // A grant nobody used is void once it expires.
    return this.#dropPending(peerId, now - this.#config.grantTtlMs)
  }

  /** Forgets a node's grants made at or before `cutoff`; the bytes of those left. */
  #dropPending(peerId: string, cutoff: number): number {
    const pending = this.#pending.get(peerId)
    if (pending === undefined) return 0
    const bytes = pending.dropUntil(cutoff)
    if (pending.empty) this.#pending.delete(peerId)
    return bytes
  }

  /**
   * A heartbeat reports what the node stores now. Grants at least one interval older than it have had time to
   * be used and show up in `free` (or never will be), so they stop counting.
   */
  #settlePending(peerId: string, now: number): void {
    this.#dropPending(peerId, now - this.#config.heartbeatIntervalMs)
  }
}

/**
 * One node's grants whose bytes its heartbeats have not reported yet, oldest first, and their sum: placement
 * reads it for every node on every request, so dropping the old ones and summing the rest is amortised O(1),
 * not a walk of the list. Grants are added in clock order; one added out of order (a clock that stepped back)
 * is dropped with those before it, never earlier.
 */
class PendingGrants {
  #list: PendingGrant[] = []
  #head = 0
  #bytes = 0

  add(bytes: number, at: number): void {
    this.#list.push({ bytes, at })
    this.#bytes += bytes
  }

  /** Drops the grants made at or before `cutoff`; returns the bytes of the rest. */
  dropUntil(cutoff: number): number {
    for (let p = this.#list[this.#head]; p !== undefined && p.at <= cutoff; p = this.#list[this.#head]) {
      this.#bytes -= p.bytes
      this.#head++
    }
    if (this.#head === this.#list.length || this.#head > 1024) {
      this.#list = this.#list.slice(this.#head)
      this.#head = 0
    }
    return this.#bytes
  }

  get empty(): boolean {
    return this.#head === this.#list.length
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
