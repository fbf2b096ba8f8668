import {
  ErrorCode,
  type HeartbeatResponse,
  MAX_HEARTBEAT_TOKEN_LENGTH,
  type NodeAddress,
  type NodeView,
  openNodeToken,
  ShoalError
} from '@shoal/core'
import type { TrackerConfig } from './config.ts'
import { HEARTBEAT_MAX_SKEW_MS, MAX_HEARTBEAT_DELETES, MAX_HEARTBEAT_PEERS } from './constants.ts'
import type { GrantSigner } from './grants.ts'
import type { NodeAdmission } from './node-admission.ts'
import type { NodeStanding } from './ops/reputations.ts'
import { type LoopbackSubnets, subnetOf } from './ops/subnet.ts'
import { byRank, distinctSubnets, pickPlacement, type RankedCandidate, scoreBucket } from './placement.ts'
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
  /** Placement's candidates made from this read, built on first use (see CandidatePool). */
  pool?: Promise<CandidatePool>
}

/**
 * A node as placement sees it. Kept from request to request with its read of the node table: each placement
 * only takes off the bytes granted since (`pending`) and re-sorts an array that is nearly in order already,
 * instead of building, filtering and sorting a thousand new objects (that was a fifth of an upload's CPU at
 * 1,000 nodes; bench/RESULTS.md, session 12).
 */
interface Candidate extends RankedCandidate {
  subnet: string
  node: NodeRecord
  /** Free bytes as the node last reported them; `free` is this less its pending grants, as of the last use. */
  reported: number
  /** Tracker time after which the node counts as offline (see isOnline). */
  offlineAfter: number
  /** No new pieces: disqualified or leaving. */
  barred: boolean
  pending: PendingGrants
}

interface CandidatePool {
  /** Every node of the read, in placement's order as of the last placement. */
  ranked: Candidate[]
  byId: Map<string, Candidate>
  /** The standings' version the candidates' scores are from. */
  standings: number
}

/** What the registry asks of node reputations (ops/reputations.ts). */
export interface Standings {
  standing(peerId: string): NodeStanding
  /** Changes whenever any standing may have: placement keeps standings until then. */
  readonly version: number
}

export interface NodeRegistryComponents {
  store: StoreParts<'nodes'>
  config: TrackerConfig
  signer: GrantSigner
  /** base64url protobuf of the tracker's public key, as in /v1/info. */
  trackerKey: string
  /** Nodes' reputations for placement (see ops/reputations.ts); default: every node in good standing. */
  standings?: Standings
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
  readonly #standings: Standings | undefined
  readonly #loopbackSubnets: LoopbackSubnets
  readonly #newNodeFraction: number
  readonly #admission: NodeAdmission | undefined
  /**
   * Bytes granted per node since its last heartbeats. Kept in memory on purpose: it is an estimate that only
   * stops one busy moment from sending every piece to the same emptiest node, and heartbeats correct it. One
   * entry per node ever granted (each candidate holds its node's), as the node table has one per node.
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
    this.#standings = components.standings
    this.#loopbackSubnets = components.loopbackSubnets ?? 'node'
    this.#newNodeFraction = components.newNodeFraction ?? 1
    this.#admission = components.admission
  }

  /** `source`: the address the heartbeat came from, which decides the node's subnet (see subnetOf). */
  async heartbeat(token: string, source?: string): Promise<HeartbeatResponse> {
    const payload = parseHeartbeatPayload((await openNodeToken(token, 'heartbeat', MAX_HEARTBEAT_TOKEN_LENGTH)).payload)
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
    // One store call records the beat and reads the node's queued deletes.
    const orders = await this.#store.nodes.recordHeartbeat(record, payload.deleted, MAX_HEARTBEAT_DELETES)
    if (orders === undefined) {
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
      void view.pool?.then(
        (pool) => this.#patch(pool, record),
        () => {}
      )
    }
    this.#settlePending(payload.node, now)
    const peers = samplePeers((await this.#pool()).ranked, payload.node, now, MAX_HEARTBEAT_PEERS)
    const deletes = await Promise.all(orders.map((order) => this.#signer.signDelete(order)))
    return { trackerKey: this.#trackerKey, intervalMs: this.#config.heartbeatIntervalMs, peers, deletes }
  }

  /** How long after its last heartbeat a node counts as offline (isOnline). */
  get offlineAfterMs(): number {
    return this.#config.offlineAfterMs
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
    for (const c of (await this.#usable(false)).usable) {
      const free = best.get(c.subnet)
      if (free === undefined || c.free > free) best.set(c.subnet, c.free)
    }
    return [...best.values()]
  }

  /** Failure domains that could take a piece of `pieceSize` bytes now, leaving out `exclude`. */
  async available(pieceSize: number, exclude: readonly string[]): Promise<number> {
    const skip = new Set(exclude)
    return distinctSubnets(
      (await this.#usable(false)).usable.filter((c) => !skip.has(c.peerId)),
      pieceSize
    )
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
    const skip = new Set(exclude)
    const choose = async () => {
      const { usable, byId } = await this.#usable(true)
      const options = { newNodeFraction: this.#newNodeFraction, exclude: skip }
      return { usable, byId, chosen: pickPlacement(usable, count, pieceSize, rotation, previous, options) }
    }
    let { usable, byId, chosen } = await choose()
    if (chosen === undefined) {
      // The view may predate nodes that joined through another tracker: read the table once before refusing.
      this.refresh()
      ;({ usable, byId, chosen } = await choose())
    }
    if (chosen === undefined) {
      // Nodes in one subnet count once: no segment may have two pieces there.
      const available = distinctSubnets(
        usable.filter((c) => !skip.has(c.peerId)),
        pieceSize
      )
      throw new ShoalError(ErrorCode.NOT_ENOUGH_NODES, `${count} storage nodes needed, ${available} available`, {
        details: { needed: count, available }
      })
    }
    const now = this.#config.clock.now()
    return chosen.map((peerId) => {
      const c = byId.get(peerId) as Candidate
      c.pending.add(pieceSize, now)
      return c.node
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
      const { usable, byId } = await this.#usable(true)
      const options = { newNodeFraction: this.#newNodeFraction, takenSubnets, exclude: new Set([...avoid, ...keep]) }
      return { byId, chosen: pickPlacement(usable, count, pieceSize, rotation, [], options) }
    }
    let { byId, chosen } = await choose()
    if (chosen === undefined) {
      // As in place(): the view may predate nodes that joined through another tracker.
      this.refresh()
      ;({ byId, chosen } = await choose())
    }
    if (chosen === undefined) {
      throw new ShoalError(ErrorCode.NOT_ENOUGH_NODES, `${count} more storage nodes in new subnets needed`, {
        details: { needed: count }
      })
    }
    return chosen.map((peerId) => (byId.get(peerId) as Candidate).node)
  }

  /**
   * The candidates that may take pieces now (online, neither disqualified nor leaving), each with the grants not
   * yet reported taken off its free space; in placement's order when `sorted`. With them, every candidate by id.
   */
  async #usable(sorted: boolean): Promise<{ usable: Candidate[]; byId: ReadonlyMap<string, Candidate> }> {
    const pool = await this.#pool()
    const now = this.#config.clock.now()
    // A grant nobody used is void once it expires.
    const cutoff = now - this.#config.grantTtlMs
    for (const c of pool.ranked) c.free = c.reported - c.pending.dropUntil(cutoff)
    // Nearly in order since the last placement (only the nodes granted or heard from since have moved), which
    // the sort's runs take in about one pass.
    if (sorted) pool.ranked.sort(byRank)
    const usable: Candidate[] = []
    for (const c of pool.ranked) if (!c.barred && now <= c.offlineAfter) usable.push(c)
    return { usable, byId: pool.byId }
  }

  /** Placement's candidates from the current view, their standings brought up to date. */
  async #pool(): Promise<CandidatePool> {
    const view = this.#current()
    view.pool ??= view.nodes.then((nodes) => {
      const pool: CandidatePool = { ranked: [], byId: new Map(), standings: this.#standings?.version ?? 0 }
      for (const node of nodes.values()) this.#patch(pool, node)
      return pool
    })
    const pool = await view.pool
    const version = this.#standings?.version ?? 0
    if (pool.standings !== version) {
      pool.standings = version
      for (const c of pool.ranked) this.#stand(c)
    }
    return pool
  }

  /** Adds a node to the pool or brings its candidate up to date with a newer record. */
  #patch(pool: CandidatePool, node: NodeRecord): void {
    const c = pool.byId.get(node.peerId)
    if (c !== undefined) {
      c.node = node
      c.reported = node.free
      c.subnet = node.subnet ?? `node:${node.peerId}`
      c.offlineAfter = node.lastSeen + this.#config.offlineAfterMs
      return
    }
    let pending = this.#pending.get(node.peerId)
    if (pending === undefined) {
      pending = new PendingGrants()
      this.#pending.set(node.peerId, pending)
    }
    const added: Candidate = {
      peerId: node.peerId,
      node,
      reported: node.free,
      free: node.free,
      subnet: node.subnet ?? `node:${node.peerId}`,
      offlineAfter: node.lastSeen + this.#config.offlineAfterMs,
      vetted: true,
      score: 1,
      bucket: scoreBucket(1),
      barred: false,
      pending
    }
    this.#stand(added)
    pool.ranked.push(added)
    pool.byId.set(node.peerId, added)
  }

  /** A candidate's standing fields from the node's reputation. */
  #stand(c: Candidate): void {
    const standing = this.#standings?.standing(c.peerId)
    c.vetted = standing?.vetted ?? true
    c.score = standing?.score ?? 1
    c.bucket = scoreBucket(c.score)
    // Disqualified and leaving nodes get no new pieces.
    c.barred = standing?.disqualified === true || standing?.exiting === true
  }

  /**
   * A heartbeat reports what the node stores now. Grants at least one interval older than it have had time to
   * be used and show up in `free` (or never will be), so they stop counting.
   */
  #settlePending(peerId: string, now: number): void {
    this.#pending.get(peerId)?.dropUntil(now - this.#config.heartbeatIntervalMs)
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
    if (this.#head > 0 && (this.#head === this.#list.length || this.#head > 1024)) {
      this.#list = this.#list.slice(this.#head)
      this.#head = 0
    }
    return this.#bytes
  }
}

function address(node: NodeRecord): NodeAddress {
  return { peerId: node.peerId, addrs: node.addrs }
}

/**
 * Up to `max` online nodes other than `self`, chosen at random, for a heartbeat's answer. In a large network
 * random draws (a repeat or an offline node is drawn again) instead of copying and shuffling every node on every
 * heartbeat; in a small one, or when the draws keep missing (most nodes offline), every online node is looked at.
 */
export function samplePeers(
  nodes: readonly Pick<Candidate, 'peerId' | 'node' | 'offlineAfter'>[],
  self: string,
  now: number,
  max: number
): { peerId: string; addrs: string[] }[] {
  const usable = (c: (typeof nodes)[number]) => c.peerId !== self && now <= c.offlineAfter
  let picked: (typeof nodes)[number][] = []
  if (nodes.length > 4 * max) {
    const seen = new Set<number>()
    for (let draws = 0; picked.length < max && draws < 8 * max; draws++) {
      const i = Math.floor(Math.random() * nodes.length)
      const c = nodes[i] as (typeof nodes)[number]
      if (seen.has(i)) continue
      seen.add(i)
      if (usable(c)) picked.push(c)
    }
  }
  if (picked.length < max) {
    picked = nodes.filter(usable)
    for (let i = picked.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[picked[i], picked[j]] = [picked[j] as (typeof nodes)[number], picked[i] as (typeof nodes)[number]]
    }
  }
  return picked.slice(0, max).map((c) => ({ peerId: c.peerId, addrs: c.node.addrs }))
}
