import { peerIdFromString } from '@libp2p/peer-id'
import {
  putPiece,
  type RebuildSource,
  type RebuiltPiece,
  ReceiptBook,
  ReceiptSigner,
  rebuildPieces,
  requestRepair
} from '@shoal/client'
import {
  CID,
  describeError,
  ErrorCode,
  isShoalError,
  type NodeAddress,
  type PiecePlacement,
  pieceSize,
  REPAIR_ACCOUNT,
  type RepairOrder,
  receiptKeyId,
  ShoalError,
  verifyReceipt
} from '@shoal/core'
import type { Logger } from 'pino'
import { deleteOrders } from '../grants.ts'
import { randomId } from '../ids.ts'
import type { RepairItem, SegmentKey, StoreParts, WalkedObject } from '../store/store.ts'
import type { AuditorComponents } from './auditor.ts'
import { repairThreshold, ScanPace } from './ops-config.ts'
import { failedPiece, withoutFailedPiece } from './reputation.ts'
import { SCAN_PAGE, type ScanSlice, SegmentScan } from './segment-scan.ts'
import { type WalkedSegment, walkedPage, walkSegments } from './segments.ts'

export interface RepairStats {
  checks: number
  segmentsChecked: number
  /** Last check: segments at or below the repair threshold, and below k (lost). */
  belowThreshold: number
  lost: number
  /** Segments with a piece on a node leaving on purpose (moved whatever their health). */
  exiting: number
  repaired: number
  piecesRepaired: number
  /** Segments a storage node rebuilt for the tracker (the repair protocol); the rest the tracker rebuilt itself. */
  repairedByNodes: number
  failures: number
  lastCheckMs: number
}

/** The parts the auditor gets, with the store parts a repair writes. */
export type RepairComponents = Omit<AuditorComponents, 'store'> & {
  store: StoreParts<'objects' | 'nodes' | 'coordination'>
}

/** The cursor of the repair check's walk in the coordination store. */
export const REPAIR_SCAN = 'repair-check'
/** Reputations are re-read at most this often during a pass (and at each pass's start). */
const REPUTATION_REFRESH_MS = 10_000
/**
 * Most ticks in a row the background drain leaves the repair queue alone after finding it empty (the wait
 * doubles from one tick up to this). Repairs this process queues wake it at once; only those another tracker
 * queues (a short commit there) wait, up to this many ticks.
 */
const MAX_IDLE_DRAIN_SKIPS = 8

/** What the node watch remembers of a node: the parts of its state `segmentHealth` reads. */
export interface WatchedNode {
  /** Last heartbeat (tracker time), when known: a node heard from since the last look is a new life. */
  lastSeen?: number
  online: boolean
  /** Offline for at least the repair grace (its pieces stopped counting). */
  graceOver: boolean
  disqualified: boolean
  exiting: boolean
  /** Pieces on the node that failed their last audit. */
  failed: number
}

/**
 * Whether a node's pieces may have become less healthy since the watch last saw it: it went offline, its grace
 * ran out, it was disqualified, began to leave, or failed an audit of another piece. A node seen for the first
 * time counts if anything of this is already true (a tracker that starts, or takes over the lease, checks the
 * segments of nodes that are down now: it cannot know what the one before it saw).
 */
export function nodeGotWorse(before: WatchedNode | undefined, now: WatchedNode): boolean {
  if (before === undefined) return !now.online || now.disqualified || now.exiting || now.failed > 0
  // Offline now but heard from since the last look: it came back and went offline again in between.
  const wentAgain =
    !now.online && now.lastSeen !== undefined && before.lastSeen !== undefined && now.lastSeen > before.lastSeen
  return (
    wentAgain ||
    (before.online && !now.online) ||
    (!before.graceOver && now.graceOver) ||
    (!before.disqualified && now.disqualified) ||
    (!before.exiting && now.exiting) ||
    now.failed > before.failed
  )
}

export interface Health {
  healthy: PiecePlacement[]
  /** Pieces to replace: on offline, disqualified or leaving nodes, or failed an audit, or never stored. */
  replace: number[]
  /** Pieces the repair may download from (healthy and online, plus those on leaving nodes, which still serve). */
  sources: PiecePlacement[]
}

/** What the health rule needs to know of a piece's node. */
export interface PieceNodeState {
  /** Online now. */
  online: boolean
  /** Last heartbeat (tracker time). */
  lastSeen: number
  disqualified: boolean
  exiting: boolean
}

/**
 * Which pieces of a segment count as healthy. A piece counts while its node is online, in good standing and
 * not leaving, and its last audit did not fail. A piece on a node offline for less than `offlineGraceMs` still
 * counts: a node restarting for an upgrade, or a heartbeat late under load, should not set off a repair of
 * everything the node holds, and repair traffic costs real money. The grace ends early when the segment's
 * pieces on online nodes are down to k: then one more loss would lose the segment, so only pieces that can be
 * fetched now count, and the repair starts at once.
 */
export function segmentHealth(
  layout: { k: number; m: number },
  pieces: readonly PiecePlacement[],
  node: (peerId: string) => PieceNodeState | undefined,
  suspect: (piece: PiecePlacement) => boolean,
  offlineGraceMs: number,
  now: number
): Health {
  const sources: PiecePlacement[] = []
  const online: PiecePlacement[] = []
  const graced: PiecePlacement[] = []
  for (const piece of pieces) {
    const state = node(piece.node)
    if (state === undefined || state.disqualified || suspect(piece)) continue
    if (state.online) {
      sources.push(piece)
      if (!state.exiting) online.push(piece)
    } else if (!state.exiting && now - state.lastSeen < offlineGraceMs) {
      graced.push(piece)
    }
  }
  const healthy = online.length > layout.k ? [...online, ...graced] : online
  const present = new Set(healthy.map((p) => p.index))
  const replace: number[] = []
  for (let i = 0; i < layout.k + layout.m; i++) if (!present.has(i)) replace.push(i)
  return { healthy, replace, sources }
}

/**
 * The repair checker and repairer. The checker walks every segment, a slice per tick from a cursor kept in the
 * store (segment-scan.ts), and queues those whose healthy pieces are at or below the threshold (or that have
 * pieces on a node leaving) in the store's repair queue, which survives a restart and which trackers sharing a
 * database take items from under expiring claims. The repairer downloads k pieces, rebuilds the missing ones
 * with Reed-Solomon on the ciphertext (no key needed: the pieces are encrypted shards), stores them on new nodes
 * in fresh failure domains and swaps them into the manifest with a compare-and-swap, so a repair racing another
 * (or a restart) never places a piece twice.
 */
export class Repairer {
  readonly #c: RepairComponents
  readonly #log: Logger
  readonly #scan: SegmentScan
  readonly #pace: ScanPace
  /** Who claims repair items in the store: this process. */
  readonly #holder = randomId()
  /** The pass in progress, as this tracker saw it (its slices only, when trackers share a pass). */
  #pass = newPass()
  /** Whether this tracker saw the pass in progress begin (then its counts are the whole pass's). */
  #passWhole = false
  #passStarted = 0
  #reputationsReadAt = Number.NEGATIVE_INFINITY
  #queueLength = 0
  /** Each node's state as the node watch last saw it. */
  readonly #watched = new Map<string, WatchedNode>()
  /** Nodes whose segments the watch is checking, with how far it got (undefined: from the start). */
  readonly #nodeWalks = new Map<string, SegmentKey | undefined>()
  /**
   * Tracker time by which the tick's node watch must look again although nothing it was told of changed: the
   * first moment a node's state changes by time alone (an online node's last heartbeat grows too old, an
   * offline node's grace ends), or the next re-read of reputations. See #watchDue.
   */
  #watchAt = Number.NEGATIVE_INFINITY
  /** The reputations' version the watch last looked at. */
  #watchedVersion = -1
  /** Ticks the drain still leaves the queue alone, and the length of the last such wait (see drain). */
  #drainSkips = 0
  #drainWait = 0
  /** Others that read each slice of the pass once this walk has read it (the audit round: Auditor.rideAlong). */
  readonly #riders: ((slice: ScanSlice, signal?: AbortSignal) => Promise<void>)[] = []
  readonly stats: RepairStats = {
    checks: 0,
    segmentsChecked: 0,
    belowThreshold: 0,
    lost: 0,
    exiting: 0,
    repaired: 0,
    piecesRepaired: 0,
    repairedByNodes: 0,
    failures: 0,
    lastCheckMs: 0
  }

  /** Receipts for what this tracker reads itself when no node can repair: paid to the sources like any read. */
  readonly #receipts: Promise<ReceiptBook>

  constructor(components: RepairComponents) {
    this.#c = components
    this.#log = components.logger
    this.#scan = new SegmentScan(REPAIR_SCAN, components.store, components.clock)
    this.#pace = new ScanPace(components.settings.scanTickMs, () => components.settings.repairScanSegmentsPerSecond)
    this.#receipts = ReceiptSigner.create().then((signer) => new ReceiptBook(signer, components.peer))
  }

  /** Delivers the receipts of the tracker's own repair reads (best effort: an unreachable source misses them). */
  async flushReceipts(): Promise<void> {
    await (await this.#receipts).flush()
  }

  /** Segments in the store's repair queue, as last counted (after a check or a drain). */
  get queueLength(): number {
    return this.#queueLength
  }

  /** Every known node's heartbeat state (read once per slice, not once per segment). */
  async #nodeStates(): Promise<ReadonlyMap<string, { online: boolean; lastSeen: number }>> {
    return new Map((await this.#c.registry.list()).map((n) => [n.peerId, { online: n.online, lastSeen: n.lastSeen }]))
  }

  #health(
    object: WalkedObject,
    pieces: readonly PiecePlacement[],
    nodes: ReadonlyMap<string, { online: boolean; lastSeen: number }>
  ): Health {
    return segmentHealth(
      object,
      pieces,
      (peerId) => {
        const heartbeat = nodes.get(peerId)
        if (heartbeat === undefined) return undefined
        const standing = this.#c.reputations.standing(peerId)
        return { ...heartbeat, disqualified: standing.disqualified, exiting: standing.exiting }
      },
      (piece) => failedPiece(this.#c.reputations.get(piece.node), piece.cid),
      this.#c.settings.repairOfflineGraceMs,
      this.#c.clock.now()
    )
  }

  /** Pieces of committed objects on `node` (a walk over every segment). */
  async piecesOn(node: string, signal?: AbortSignal): Promise<number> {
    let count = 0
    for await (const { segment } of walkSegments(this.#c.store, signal)) {
      for (const piece of segment.pieces) if (piece.node === node) count++
    }
    return count
  }

  /**
   * One tick of the background check: first the segments of nodes whose state got worse (the node watch, by the
   * store's index of segments by node), then, with what is left of the tick's budget (`scanSegmentsPerSecond`),
   * the next slice of the pass over every segment (a new pass begins `repairIntervalMs` after the last one
   * began), then the queue drained. The watch is how a failure is found within a tick; the pass is the safety
   * net for what no node event shows (a segment committed short of pieces, a state this tracker never saw
   * change), and its period is set by what it may cost (docs/audits-and-repair.md, "Repair").
   */
  async tick(signal?: AbortSignal): Promise<void> {
    const { settings } = this.#c
    const budget = this.#pace.budget()
    // An idle tick (no node changed, no pass due, an empty queue) reads nothing from the store.
    const left = budget - (this.#watchDue() ? await this.watchNodes(budget, signal) : 0)
    if (left > 0) {
      await this.#scan.tick(
        left,
        settings.repairIntervalMs,
        async (slice) => {
          await this.#checkSlice(slice)
          for (const ride of this.#riders) await ride(slice, signal)
        },
        signal
      )
    }
    if (this.#drainSkips > 0) this.#drainSkips--
    else await this.drain(signal)
  }

  /**
   * Whether the node watch may find anything the last look did not: a walk it is still on, a reputation that
   * changed since (this process's audits, or the periodic re-read), or a state due to change by time alone. A
   * node's record changes otherwise only with a heartbeat, which makes it no worse; one that came back and went
   * offline again between two looks is caught by its newer lastSeen (nodeGotWorse) at the next look, at most
   * REPUTATION_REFRESH_MS later.
   */
  #watchDue(): boolean {
    return (
      this.#nodeWalks.size > 0 ||
      this.#c.reputations.version !== this.#watchedVersion ||
      this.#c.clock.now() >= this.#watchAt
    )
  }

  /**
   * Hands every slice of the background pass to `ride` as well, after checking it: one walk of the segments for
   * whoever needs one (a slice of a pass someone triggered with check(), or of the node watch, is not handed on).
   */
  carry(ride: (slice: ScanSlice, signal?: AbortSignal) => Promise<void>): void {
    this.#riders.push(ride)
  }

  /** Repairs were queued by this process: the next tick drains at once, whatever the idle wait was. */
  wake(): void {
    this.#drainSkips = 0
    this.#drainWait = 0
  }

  /**
   * The node watch: compares every node's state with the last one seen, starts a walk over the segments of each
   * node that got worse (`nodeGotWorse`), and checks up to `budget` segments of those walks, queueing the ones
   * that need repair as the pass would. Returns how many segments it read. Walks that do not finish go on at the
   * next call; a node that gets worse again mid-walk starts over (earlier segments may have changed too).
   */
  async watchNodes(budget = Number.POSITIVE_INFINITY, signal?: AbortSignal): Promise<number> {
    const now = this.#c.clock.now()
    await this.#refreshReputations(now)
    this.#watchedVersion = this.#c.reputations.version
    const states = await this.#nodeStates()
    const { offlineAfterMs } = this.#c.registry
    const grace = this.#c.settings.repairOfflineGraceMs
    let next = this.#reputationsReadAt + REPUTATION_REFRESH_MS
    for (const [peerId, heartbeat] of states) {
      const standing = this.#c.reputations.standing(peerId)
      const graceOver = !heartbeat.online && now - heartbeat.lastSeen >= grace
      // When this node's state changes by time alone (isOnline: offline once offlineAfterMs have passed).
      if (heartbeat.online) next = Math.min(next, heartbeat.lastSeen + offlineAfterMs + 1)
      else if (!graceOver) next = Math.min(next, heartbeat.lastSeen + grace)
      const state: WatchedNode = {
        lastSeen: heartbeat.lastSeen,
        online: heartbeat.online,
        graceOver,
        disqualified: standing.disqualified,
        exiting: standing.exiting,
        failed: this.#c.reputations.get(peerId)?.failedPieces?.length ?? 0
      }
      if (nodeGotWorse(this.#watched.get(peerId), state)) this.#nodeWalks.set(peerId, undefined)
      this.#watched.set(peerId, state)
    }
    this.#watchAt = next
    let read = 0
    for (const [node, after] of this.#nodeWalks) {
      if (read >= budget || signal?.aborted === true) break
      const limit = Math.min(SCAN_PAGE, budget - read)
      const page = await this.#c.store.objects.listSegmentsOnNode(node, after, limit)
      read += page.length
      const last = page.at(-1)
      if (page.length < limit || last === undefined) this.#nodeWalks.delete(node)
      else this.#nodeWalks.set(node, { objectId: last.objectId, index: last.segment.index })
      await this.#queueNeeded(walkedPage(page), now, states, undefined)
    }
    return read
  }

  async #refreshReputations(now: number, force = false): Promise<void> {
    if (force || now - this.#reputationsReadAt >= REPUTATION_REFRESH_MS) {
      await this.#c.reputations.refresh()
      this.#reputationsReadAt = now
    }
  }

  /** A whole pass of the check now, begun and finished by this call (tests, a trigger). */
  async check(signal?: AbortSignal): Promise<void> {
    await this.#scan.fullPass((slice) => this.#checkSlice(slice), signal)
  }

  async #checkSlice(slice: ScanSlice): Promise<void> {
    const now = this.#c.clock.now()
    if (slice.started || this.#passStarted === 0) {
      this.#pass = newPass()
      this.#passWhole = slice.started
      this.#passStarted = performance.now()
    }
    await this.#refreshReputations(now, slice.started)
    this.#pass.queued += await this.#queueNeeded(slice.segments, now, await this.#nodeStates(), this.#pass)
    if (slice.finished) await this.#finishPass(slice)
  }

  /**
   * Queues the segments that need repair: at or below the threshold, or with pieces on a leaving node, and
   * still with k sources. Counts into `pass` when the segments are a slice of the pass. Returns how many.
   */
  async #queueNeeded(
    segments: readonly WalkedSegment[],
    now: number,
    online: ReadonlyMap<string, { online: boolean; lastSeen: number }>,
    pass: ReturnType<typeof newPass> | undefined
  ): Promise<number> {
    const queue: RepairItem[] = []
    for (const { key, object, segment } of segments) {
      const health = this.#health(object, segment.pieces, online)
      const n = health.healthy.length
      const moving = health.sources.length > n
      const needs = n <= repairThreshold(object.k, object.m, this.#c.settings.repairMargin)
      if (pass !== undefined) {
        pass.checked++
        if (n < object.k && health.sources.length < object.k) pass.lost++
        if (needs) pass.below++
        if (moving) pass.exiting++
        for (const piece of segment.pieces) {
          if (this.#c.reputations.standing(piece.node).exiting) {
            pass.onExiting.set(piece.node, (pass.onExiting.get(piece.node) ?? 0) + 1)
          }
        }
      }
      if ((needs || moving) && health.sources.length >= object.k) queue.push({ ...key, healthy: n, queuedAt: now })
    }
    if (queue.length > 0) {
      await this.#c.store.coordination.queueRepairs(queue)
      this.wake()
    }
    return queue.length
  }

  async #finishPass(slice: ScanSlice): Promise<void> {
    const { checked, below, lost, exiting, queued } = this.#pass
    if (this.#passWhole) await this.#recordExits(slice.cursor.startedAt)
    this.#passStarted = 0
    this.stats.checks++
    this.stats.segmentsChecked = checked
    this.stats.belowThreshold = below
    this.stats.lost = lost
    this.stats.exiting = exiting
    this.stats.lastCheckMs = Math.round(performance.now() - this.#passStarted)
    this.#queueLength = await this.#c.store.coordination.countRepairs()
    const tookMs = this.#c.clock.now() - slice.cursor.startedAt
    const { repairIntervalMs } = this.#c.settings
    if (repairIntervalMs > 0 && tookMs > repairIntervalMs) {
      this.#log.warn(
        { segments: slice.cursor.segments, tookMs, intervalMs: repairIntervalMs },
        'a repair check pass took longer than its interval: raise its rate (--repair-scan-rate) or the interval'
      )
    }
    if (below > 0 || lost > 0 || exiting > 0) {
      this.#log.info(
        { segments: checked, belowThreshold: below, lost, exiting, queued, waiting: this.#queueLength },
        'repair check'
      )
    }
  }

  /**
   * Writes what the pass found on each leaving node into its reputation, so `POST /v1/nodes/exit` answers from
   * it instead of walking every segment per request. Only for nodes leaving since before the pass began: a
   * count of a pass that began earlier may miss pieces it walked past before the exit.
   */
  async #recordExits(passStartedAt: number): Promise<void> {
    const { reputations } = this.#c
    for (const rep of reputations.all()) {
      const since = rep.exiting?.since
      if (since === undefined || since > passStartedAt) continue
      const remaining = this.#pass.onExiting.get(rep.peerId) ?? 0
      await reputations.update(rep.peerId, (r) =>
        r.exiting === undefined ? r : { ...r, exiting: { ...r.exiting, remaining, countedFrom: passStartedAt } }
      )
    }
  }

  /** Takes pieces a repair moved off leaving nodes from their counts, so an exit's progress shows at once. */
  async #movedOff(dropped: readonly PiecePlacement[]): Promise<void> {
    const { reputations } = this.#c
    const byNode = new Map<string, number>()
    for (const p of dropped) {
      if (reputations.get(p.node)?.exiting?.remaining !== undefined) byNode.set(p.node, (byNode.get(p.node) ?? 0) + 1)
    }
    for (const [node, n] of byNode) {
      await reputations.update(node, (r) =>
        r.exiting?.remaining === undefined
          ? r
          : { ...r, exiting: { ...r.exiting, remaining: Math.max(0, r.exiting.remaining - n) } }
      )
    }
  }

  /**
   * Pieces of committed objects still on a leaving node: the last whole pass's count once one ran since the exit
   * began. A count of 0 is confirmed by a walk (once, at the end of an exit): an upload that committed behind the
   * pass's position may have left a piece the pass did not see, and a node told 0 stops.
   */
  async remainingOnExit(node: string, signal?: AbortSignal): Promise<number> {
    const exiting = this.#c.reputations.get(node)?.exiting
    const counted = exiting?.countedFrom !== undefined && exiting.countedFrom >= exiting.since
    if (counted && (exiting.remaining ?? 0) > 0) return exiting.remaining ?? 0
    return this.piecesOn(node, signal)
  }

  /**
   * Repairs queued segments, most endangered first, until no unclaimed item is left. Each item is claimed in
   * the store for `repairClaimMs`, and leaves the queue when its repair ends: done, found healthy, gone, or
   * failed (the next pass of the check queues it again if it still needs repair, as before the queue was
   * durable). Only a tracker that dies or stops mid-repair leaves its claim behind, to expire.
   */
  async drain(signal?: AbortSignal): Promise<void> {
    const { settings, clock, store } = this.#c
    const claim = async (): Promise<SegmentKey | undefined> =>
      signal?.aborted === true
        ? undefined
        : (await store.coordination.claimRepairs(this.#holder, clock.now(), settings.repairClaimMs, 1))[0]
    // One claim first: an empty queue (most ticks) costs one statement, not one per worker.
    const first = await claim()
    if (first === undefined) {
      // The background tick leaves an empty queue alone for a while, twice as long each time it stays empty
      // (wake() ends the wait when this process queues repairs).
      this.#drainWait = Math.min(MAX_IDLE_DRAIN_SKIPS, Math.max(1, 2 * this.#drainWait))
      this.#drainSkips = this.#drainWait
      return
    }
    this.wake()
    const worker = async (start?: SegmentKey): Promise<void> => {
      for (let item = start ?? (await claim()); item !== undefined; item = await claim()) {
        const key = { objectId: item.objectId, index: item.index }
        try {
          await this.repair(key, signal)
        } catch (err) {
          // Stopped mid-repair: the claim stays and expires, and the item is taken up again then.
          signal?.throwIfAborted()
          this.stats.failures++
          this.#log.warn({ object: key.objectId, segment: key.index, err: describeError(err) }, 'repair failed')
        }
        await store.coordination.finishRepair(key, this.#holder)
      }
    }
    await Promise.all([worker(first), ...Array.from({ length: settings.repairConcurrency - 1 }, () => worker())])
    this.#queueLength = await store.coordination.countRepairs()
    await this.flushReceipts()
  }

  /** Repairs one segment; returns the indexes of the pieces it rebuilt (none when nothing was needed). */
  async repair(key: SegmentKey, signal?: AbortSignal): Promise<number[]> {
    const { store, registry } = this.#c
    const object = await store.objects.getObject(key.objectId)
    const segment = (await store.objects.getObjectSegments(key.objectId, key.index, key.index + 1))[0]
    if (object === undefined || segment === undefined) return []
    const { k, m } = object
    const size = pieceSize(object, key.index)
    const health = this.#health(object, segment.pieces, await this.#nodeStates())
    if (health.replace.length === 0) return []
    const log = this.#log.child({ object: key.objectId, segment: key.index })
    const peer = await this.#c.peer()
    const addresses = await registry.addresses()
    // The fastest sources are unknown: try them in order of reputation, k at a time.
    const sources: RebuildSource[] = [...health.sources]
      .sort((a, b) => this.#c.reputations.standing(b.node).score - this.#c.reputations.standing(a.node).score)
      .flatMap((p) => {
        const address = addresses.get(p.node)
        return address === undefined ? [] : [{ index: p.index, cid: p.cid, node: address }]
      })
    const recorded = new Map(segment.pieces.map((p) => [p.index, p]))
    let placed =
      this.#c.settings.repairBy === 'nodes'
        ? await this.#repairOnNode(object, key, size, sources, health, recorded, addresses, log, signal)
        : undefined
    if (placed === undefined) {
      const rebuilt = await rebuildPieces(peer, {
        what: `segment ${key.index}`,
        k,
        m,
        pieceSize: size,
        sources,
        grantFor: async (source) => this.#getGrant(source, size, (await this.#receipts).receiptKey),
        rebuild: health.replace.map((index) => {
          const cid = recorded.get(index)?.cid
          return cid === undefined ? { index } : { index, cid }
        }),
        stallMs: this.#c.settings.repairStallMs,
        ...(signal === undefined ? {} : { signal }),
        onSourceError: (source, err) =>
          log.info({ node: source.node.peerId, piece: source.index, err: describeError(err) }, 'repair source failed'),
        // Pays the sources: receipts on the get stream, so each keeps sending past its credit (get protocol 2.0.0).
        receipts: await this.#receipts
      })
      placed = await this.#place(object, key, size, rebuilt, health, signal)
    }
    const keep = health.healthy.filter((p) => !health.replace.includes(p.index))
    const pieces = [...keep, ...placed].sort((a, b) => a.index - b.index)
    const dropped = segment.pieces.filter((p) => !keep.some((q) => q.node === p.node && q.cid === p.cid))
    const now = this.#c.clock.now()
    const withSize = (list: readonly PiecePlacement[]) => list.map((p) => ({ node: p.node, cid: p.cid, size }))
    let swapped = false
    try {
      swapped = await store.objects.updateSegmentPieces(
        key,
        segment.pieces,
        pieces,
        deleteOrders(withSize(dropped), object.owner, now, object.id),
        now
      )
    } catch (err) {
      if (!isShoalError(err, ErrorCode.OBJECT_NOT_FOUND)) throw err
    }
    if (!swapped) {
      // Deleted or repaired by someone else meanwhile: what we stored is garbage now.
      await store.nodes.queueDeletes(deleteOrders(withSize(placed), object.owner, now, object.id))
      log.info('segment changed during repair: new pieces handed back for deletion')
      return []
    }
    await this.#movedOff(dropped)
    this.stats.repaired++
    this.stats.piecesRepaired += placed.length
    log.info({ rebuilt: placed.map((p) => p.index), nodes: placed.map((p) => p.node) }, 'segment repaired')
    return placed.map((p) => p.index)
  }

  /**
   * Has a storage node rebuild the segment's missing pieces and store them on the targets chosen here (the
   * repair protocol), so the bytes never pass through the tracker. Returns the pieces placed, each backed by its
   * holder's receipt; or undefined when no node can do it (no worker, a piece without a recorded CID to sign a
   * put grant for, or the worker failed), and the tracker repairs the segment itself.
   */
  async #repairOnNode(
    object: WalkedObject,
    key: SegmentKey,
    size: number,
    sources: readonly RebuildSource[],
    health: Health,
    recorded: ReadonlyMap<number, PiecePlacement>,
    addresses: ReadonlyMap<string, NodeAddress & { online: boolean }>,
    log: Logger,
    signal: AbortSignal | undefined
  ): Promise<PiecePlacement[] | undefined> {
    const { registry, signer, reputations } = this.#c
    const wanted = health.replace.map((index) => ({ index, cid: recorded.get(index)?.cid }))
    if (wanted.some((w) => w.cid === undefined)) return undefined
    const sourceNodes = new Set(sources.map((s) => s.node.peerId))
    let targets: NodeAddress[]
    try {
      targets = await registry.placeBeside(
        wanted.length,
        size,
        key.index,
        health.healthy.map((p) => p.node),
        [...sourceNodes]
      )
    } catch (err) {
      log.info({ err: describeError(err) }, 'no targets for a repair on a node: the tracker repairs it')
      return undefined
    }
    const busy = new Set([...sourceNodes, ...targets.map((t) => t.peerId)])
    const workers = [...addresses.values()].filter((n) => {
      const standing = reputations.standing(n.peerId)
      return n.online && !busy.has(n.peerId) && !standing.disqualified && !standing.exiting
    })
    if (workers.length === 0) return undefined
    // Spread the work: any good node will do, the best few more often.
    workers.sort((a, b) => reputations.standing(b.peerId).score - reputations.standing(a.peerId).score)
    const worker = workers[Math.floor(Math.random() * Math.min(3, workers.length))] as NodeAddress
    const serials = new Map<number, string>()
    const order: RepairOrder = {
      k: object.k,
      m: object.m,
      pieceSize: size,
      sources: await Promise.all(
        sources.map(async (source) => ({
          ...source,
          grant: await this.#getGrant(source, size, workerReceiptKey(worker))
        }))
      ),
      targets: await Promise.all(
        wanted.map(async ({ index, cid }, i) => {
          const node = targets[i] as NodeAddress
          const { serial, grant } = await signer.sign({
            kind: 'put',
            piece: cid as string,
            node: node.peerId,
            account: object.owner,
            size,
            obj: object.id
          })
          serials.set(index, serial)
          return { index, cid: cid as string, node: { peerId: node.peerId, addrs: node.addrs }, grant }
        })
      )
    }
    let answer: Awaited<ReturnType<typeof requestRepair>>
    try {
      const timeout = AbortSignal.timeout(4 * this.#c.settings.repairStallMs)
      answer = await requestRepair(await this.#c.peer(), worker, await signer.signRepair(worker.peerId, order), {
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout])
      })
    } catch (err) {
      signal?.throwIfAborted()
      log.info({ worker: worker.peerId, err: describeError(err) }, 'repair on a node failed: the tracker repairs it')
      return undefined
    }
    const placed: PiecePlacement[] = []
    for (const p of answer.placed ?? []) {
      const target = order.targets.find((t) => t.index === p.index)
      if (target === undefined || target.node.peerId !== p.node || placed.some((q) => q.index === p.index)) continue
      let root: string
      try {
        ;({ root } = await verifyReceipt(p.receipt, {
          node: p.node,
          piece: target.cid,
          serial: serials.get(p.index) ?? '',
          size
        }))
      } catch (err) {
        log.warn({ worker: worker.peerId, node: p.node, err: describeError(err) }, 'a repair receipt does not hold')
        continue
      }
      await this.#forgetFailure(p.node, target.cid)
      // The root the new holder computed and signed, never the worker's word: its audits are checked against it.
      placed.push({ index: p.index, cid: target.cid, node: p.node, root })
    }
    if (placed.length === 0 || health.healthy.length + placed.length < object.k) {
      // Nothing, or too little to leave the segment whole: what was stored is handed back, and the tracker tries.
      const now = this.#c.clock.now()
      await this.#c.store.nodes.queueDeletes(
        deleteOrders(
          placed.map((p) => ({ node: p.node, cid: p.cid, size })),
          object.owner,
          now,
          object.id
        )
      )
      log.info(
        { worker: worker.peerId, failed: answer.failed?.length ?? 0 },
        'a node repaired too little: the tracker repairs it'
      )
      return undefined
    }
    this.stats.repairedByNodes++
    log.info({ worker: worker.peerId, placed: placed.length, failed: answer.failed?.length ?? 0 }, 'repaired on a node')
    return placed
  }

  /**
   * A get grant for reading a repair source. It names the network's repair account and the reader's receipt
   * key (a worker node's identity, or this tracker's own): the reader signs a receipt per piece, the source
   * settles it and is paid for the egress, and no customer is billed for it.
   */
  async #getGrant(source: RebuildSource, size: number, rk: string | undefined): Promise<string> {
    const request = { kind: 'get', piece: source.cid, node: source.node.peerId, size } as const
    // Repair reads are the network's: the tracker's own (no receipt key) are the only grants nodes serve unpaid.
    const paid = rk === undefined ? { account: REPAIR_ACCOUNT } : { account: REPAIR_ACCOUNT, rk }
    return (await this.#c.signer.sign({ ...request, ...paid })).grant
  }

  /**
   * A node that failed an audit of a piece may get the rebuilt piece back (on a small network it may be the only
   * node left with room in a free failure domain): its new copy was checked against the CID as it was stored,
   * so the old failure no longer says anything about it.
   */
  async #forgetFailure(node: string, cid: string): Promise<void> {
    if (!failedPiece(this.#c.reputations.get(node), cid)) return
    await this.#c.reputations.update(node, (rep) => withoutFailedPiece(rep, cid, this.#c.clock.now()))
  }

  /** Stores rebuilt pieces on new nodes (fresh subnets), retrying a failed piece once elsewhere. */
  async #place(
    object: WalkedObject,
    key: SegmentKey,
    size: number,
    rebuilt: RebuiltPiece[],
    health: Health,
    signal: AbortSignal | undefined
  ): Promise<PiecePlacement[]> {
    const { registry, signer } = this.#c
    const peer = await this.#c.peer()
    const avoid = new Set(health.sources.map((p) => p.node))
    const keepNodes = health.healthy.map((p) => p.node)
    const placed: PiecePlacement[] = []
    let pending = rebuilt
    for (let attempt = 0; attempt < 2 && pending.length > 0; attempt++) {
      const nodes = await registry.placeBeside(pending.length, size, key.index + attempt, keepNodes, [...avoid])
      const failed: typeof pending = []
      await Promise.all(
        pending.map(async (piece, i) => {
          const node = nodes[i] as NodeAddress
          avoid.add(node.peerId)
          try {
            const { serial, grant } = await signer.sign({
              kind: 'put',
              piece: piece.cid,
              node: node.peerId,
              account: object.owner,
              size,
              obj: object.id
            })
            const receipt = await putPiece(
              peer,
              node,
              { grant, cid: CID.parse(piece.cid), bytes: piece.bytes },
              signal === undefined ? {} : { signal }
            )
            const { root } = await verifyReceipt(receipt, { node: node.peerId, piece: piece.cid, serial, size })
            await this.#forgetFailure(node.peerId, piece.cid)
            placed.push({ index: piece.index, cid: piece.cid, node: node.peerId, root })
            keepNodes.push(node.peerId)
          } catch (err) {
            signal?.throwIfAborted()
            this.#log.info({ node: node.peerId, piece: piece.index, err: describeError(err) }, 'repair put failed')
            failed.push(piece)
          }
        })
      )
      pending = failed
    }
    if (pending.length > 0) {
      // Keep what was stored only if the segment is whole without the rest; otherwise give up on all of it.
      const whole = health.healthy.length + placed.length >= object.k
      if (!whole || placed.length === 0) {
        await this.#c.store.nodes.queueDeletes(
          deleteOrders(
            placed.map((p) => ({ node: p.node, cid: p.cid, size })),
            object.owner,
            this.#c.clock.now(),
            object.id
          )
        )
        throw new ShoalError(ErrorCode.NOT_ENOUGH_NODES, `could not store ${pending.length} rebuilt pieces`)
      }
    }
    return placed
  }
}

/** Counts of one repair-check pass, as this tracker saw it. */
function newPass() {
  return { checked: 0, below: 0, lost: 0, exiting: 0, queued: 0, onExiting: new Map<string, number>() }
}

/** A worker node signs receipts with its identity: Ed25519 peer ids carry the key; others cannot be checked. */
function workerReceiptKey(worker: NodeAddress): string | undefined {
  const key = peerIdFromString(worker.peerId).publicKey
  return key === undefined ? undefined : receiptKeyId(key)
}
