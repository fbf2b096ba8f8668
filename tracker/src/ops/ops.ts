import { setTimeout as sleep } from 'node:timers/promises'
import type { Libp2p } from '@libp2p/interface'
import { createClientPeer } from '@shoal/client'
import { describeError, type MetricFamily, singleMetric } from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from '../config.ts'
import { type GrantSigner, randomId } from '../grants.ts'
import type { NodeRegistry } from '../node-registry.ts'
import type { StoreParts } from '../store/store.ts'
import { Auditor } from './auditor.ts'
import type { OpsSettings } from './ops-config.ts'
import { Repairer } from './repairer.ts'
import { auditScore, uptimeScore } from './reputation.ts'
import type { Reputations } from './reputations.ts'
import { RetainFilters } from './retain.ts'

export interface OpsComponents {
  store: StoreParts<'coordination' | 'uploads' | 'objects' | 'nodes'>
  registry: NodeRegistry
  reputations: Reputations
  signer: GrantSigner
  settings: OpsSettings
  clock: Clock
  logger: Logger
}

/** The store lease that picks which tracker runs audits and repair. */
const LEASE = 'ops'
/** How often the holder renews the lease, at most; it lasts three times as long. */
const MAX_LEASE_RENEW_MS = 30_000

/**
 * The tracker's background care for stored data: the audit loop and the repair loop, sharing one libp2p
 * client peer (started on first use, so a tracker that never audits never opens one).
 *
 * With several trackers on one database, one of them does this work: they hold a lease in the store in turn
 * (renewed every min(intervals, 30 s), lasting three times that), so nodes are not audited once per tracker and
 * segments are not repaired twice over. The auditor's findings (failed pieces, containment) live in the nodes'
 * reputations in the store, so whoever holds the lease next goes on from them. A tracker that stops gives the
 * lease up; one that dies loses it when it expires, and another takes over.
 */
export class Ops {
  readonly auditor: Auditor
  readonly repairer: Repairer
  readonly retain: RetainFilters
  readonly #c: OpsComponents
  readonly #holder = randomId()
  #leaseHeld = false
  /** Until when the lease we took last is ours, whatever happens to the store meanwhile. */
  #leaseUntil = 0
  #peer: Promise<Libp2p> | undefined
  #controller: AbortController | undefined
  #loops: Promise<void>[] = []

  constructor(components: OpsComponents) {
    this.#c = components
    const peer = (): Promise<Libp2p> => this.peer()
    const shared = { ...components, peer }
    this.auditor = new Auditor({ ...shared, logger: components.logger.child({ component: 'auditor' }) })
    this.retain = new RetainFilters(components.store, components.clock, components.settings)
    this.repairer = new Repairer({
      ...shared,
      logger: components.logger.child({ component: 'repairer' })
    })
  }

  /** The tracker's libp2p client peer, started on first use: audits, repair and node admission share it. */
  peer(): Promise<Libp2p> {
    this.#peer ??= createClientPeer().then(async (p) => {
      await p.start()
      return p
    })
    return this.#peer
  }

  start(): void {
    if (this.#controller !== undefined) return
    const controller = new AbortController()
    this.#controller = controller
    const { auditIntervalMs, repairIntervalMs } = this.#c.settings
    const intervals = [auditIntervalMs, repairIntervalMs].filter((ms) => ms > 0)
    if (intervals.length > 0) {
      this.#loops.push(this.#leaseLoop(Math.min(MAX_LEASE_RENEW_MS, ...intervals), controller.signal))
    }
    if (auditIntervalMs > 0) {
      this.#loops.push(this.#loop('audit', auditIntervalMs, controller.signal, (s) => this.auditor.round(s)))
    }
    if (repairIntervalMs > 0) {
      this.#loops.push(
        this.#loop('repair', repairIntervalMs, controller.signal, async (s) => {
          await this.repairer.check(s)
          await this.repairer.drain(s)
        })
      )
    }
  }

  async stop(): Promise<void> {
    this.#controller?.abort()
    this.#controller = undefined
    await Promise.allSettled(this.#loops)
    this.#loops = []
    if (this.#leaseHeld) {
      this.#leaseHeld = false
      try {
        await this.#c.store.coordination.releaseLease(LEASE, this.#holder)
      } catch (err) {
        // It expires on its own; another tracker only waits longer.
        this.#c.logger.warn({ err: describeError(err) }, 'could not give up the audit and repair lease')
      }
    }
    const peer = this.#peer
    this.#peer = undefined
    if (peer !== undefined) await (await peer).stop()
  }

  /** Whether this tracker runs audits and repair now. */
  get leaseHeld(): boolean {
    return this.#leaseHeld
  }

  async #leaseLoop(renewMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const now = this.#c.clock.now()
        const held = await this.#c.store.coordination.acquireLease(LEASE, this.#holder, now, 3 * renewMs)
        if (held) this.#leaseUntil = now + 3 * renewMs
        if (held !== this.#leaseHeld) {
          this.#c.logger.info(
            held ? 'this tracker runs audits and repair' : 'another tracker runs audits and repair: this one waits'
          )
        }
        this.#leaseHeld = held
      } catch (err) {
        // The store did not answer: what we hold stays ours until it expires, and not a moment longer.
        if (this.#c.clock.now() >= this.#leaseUntil) this.#leaseHeld = false
        if (!signal.aborted)
          this.#c.logger.warn({ err: describeError(err) }, 'could not renew the audit and repair lease')
      }
      try {
        await sleep(renewMs, undefined, { signal })
      } catch {
        return
      }
    }
  }

  async #loop(
    name: string,
    intervalMs: number,
    signal: AbortSignal,
    run: (s: AbortSignal) => Promise<unknown>
  ): Promise<void> {
    while (!signal.aborted) {
      try {
        await sleep(intervalMs, undefined, { signal })
      } catch {
        return
      }
      if (!this.#leaseHeld) continue
      try {
        await run(signal)
      } catch (err) {
        if (!signal.aborted) this.#c.logger.error({ err: describeError(err) }, `${name} pass failed`)
      }
    }
  }

  metrics(): MetricFamily[] {
    const a = this.auditor.stats
    const r = this.repairer.stats
    const reps = this.#c.reputations.all()
    return [
      {
        name: 'shoal_audits_total',
        help: 'Audits by result',
        type: 'counter',
        samples: (['passed', 'failed', 'timeout', 'skipped'] as const).map((result) => ({
          labels: { result },
          value: a.results[result]
        }))
      },
      singleMetric(
        'counter',
        'shoal_audit_leaves_checked_total',
        'Leaves verified against Merkle roots',
        a.leavesChecked
      ),
      singleMetric('counter', 'shoal_audit_corruptions_total', 'Pieces whose audit failed', a.corruptionsDetected),
      singleMetric('counter', 'shoal_audit_rounds_total', 'Audit rounds run', a.rounds),
      singleMetric(
        'gauge',
        'shoal_ops_lease_held',
        'Whether this tracker runs audits and repair (1) or another one does (0)',
        this.#leaseHeld ? 1 : 0
      ),
      singleMetric('gauge', 'shoal_repair_queue_length', 'Segments waiting for repair', this.repairer.queueLength),
      singleMetric('gauge', 'shoal_segments_checked', 'Segments seen by the last repair check', r.segmentsChecked),
      singleMetric(
        'gauge',
        'shoal_segments_below_threshold',
        'Segments at or below the repair threshold at the last check',
        r.belowThreshold
      ),
      singleMetric(
        'gauge',
        'shoal_segments_lost',
        'Segments with fewer than k retrievable pieces at the last check',
        r.lost
      ),
      singleMetric('counter', 'shoal_segments_repaired_total', 'Segments repaired', r.repaired),
      singleMetric(
        'counter',
        'shoal_pieces_repaired_total',
        'Pieces rebuilt and stored on new nodes',
        r.piecesRepaired
      ),
      singleMetric(
        'counter',
        'shoal_segments_repaired_by_nodes_total',
        'Segments a storage node rebuilt on a repair order (the bytes never passed through the tracker)',
        r.repairedByNodes
      ),
      singleMetric(
        'counter',
        'shoal_repair_failures_total',
        'Repairs that failed (retried at the next check)',
        r.failures
      ),
      singleMetric(
        'gauge',
        'shoal_nodes_disqualified',
        'Nodes disqualified',
        reps.filter((rep) => rep.disqualified !== undefined).length
      ),
      {
        name: 'shoal_node_audit_score',
        help: 'Audit score per node',
        type: 'gauge',
        samples: reps.map((rep) => ({ labels: { node: rep.peerId }, value: auditScore(rep) }))
      },
      {
        name: 'shoal_node_uptime_score',
        help: 'Uptime score per node',
        type: 'gauge',
        samples: reps.map((rep) => ({ labels: { node: rep.peerId }, value: uptimeScore(rep) }))
      }
    ]
  }
}
