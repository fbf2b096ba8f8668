import { describeError, type MetricFamily, singleMetric } from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from '../config.ts'
import { randomId } from '../ids.ts'
import { PeriodicTask, type Startable, startAll, stopAll } from '../lifecycle.ts'
import type { StoreParts } from '../store/store.ts'
import type { Auditor } from './auditor.ts'
import type { OpsSettings } from './ops-config.ts'
import type { Repairer } from './repairer.ts'
import { auditScore, uptimeScore } from './reputation.ts'
import type { Reputations } from './reputations.ts'
import type { RetainFilters } from './retain.ts'

export interface MaintenanceComponents {
  store: StoreParts<'coordination'>
  auditor: Auditor
  repairer: Repairer
  retain: RetainFilters
  reputations: Reputations
  /** The purge of older file versions past their account's policy (versions.ts). */
  versions: { purge(signal: AbortSignal): Promise<unknown> }
  settings: OpsSettings
  clock: Clock
  logger: Logger
}

/** The store lease that picks which tracker runs audits and repair. */
const LEASE = 'ops'
/** How often the holder renews the lease, at most; it lasts three times as long. */
const MAX_LEASE_RENEW_MS = 30_000

/**
 * The tracker's background care for stored data: the audit loop and the repair loop (their auditor, repairer
 * and retain filters come from the composition root, components.ts).
 *
 * With several trackers on one database, one of them does this work: they hold a lease in the store in turn
 * (renewed every min(intervals, 30 s), lasting three times that), so nodes are not audited once per tracker and
 * segments are not repaired twice over. The auditor's findings (failed pieces, containment) live in the nodes'
 * reputations in the store, so whoever holds the lease next goes on from them. A tracker that stops gives the
 * lease up; one that dies loses it when it expires, and another takes over.
 */
export class Maintenance implements Startable {
  readonly auditor: Auditor
  readonly repairer: Repairer
  readonly retain: RetainFilters
  readonly #c: MaintenanceComponents
  readonly #holder = randomId()
  readonly #tasks: PeriodicTask[]
  #leaseHeld = false
  /** Until when the lease we took last is ours, whatever happens to the store meanwhile. */
  #leaseUntil = 0

  constructor(components: MaintenanceComponents) {
    this.#c = components
    this.auditor = components.auditor
    this.repairer = components.repairer
    // One walk of every segment for both when both run: the audit round rides the repair check's pass.
    if (components.settings.auditIntervalMs > 0 && components.settings.repairIntervalMs > 0) {
      this.repairer.carry(this.auditor.rideAlong())
    }
    this.retain = components.retain
    const { auditIntervalMs, repairIntervalMs, versionPurgeIntervalMs } = components.settings
    const intervals = [auditIntervalMs, repairIntervalMs, versionPurgeIntervalMs].filter((ms) => ms > 0)
    const renewMs = Math.min(MAX_LEASE_RENEW_MS, ...intervals)
    const { logger } = components
    const leased = () => this.#leaseHeld
    this.#tasks = [
      new PeriodicTask({
        name: 'lease renewal',
        intervalMs: intervals.length > 0 ? renewMs : 0,
        immediate: true,
        logger,
        run: (signal) => this.#renewLease(renewMs, signal)
      }),
      new PeriodicTask({
        name: 'audit round',
        // A slice of the round per tick (a round begins every auditIntervalMs).
        intervalMs: auditIntervalMs > 0 ? components.settings.scanTickMs : 0,
        when: leased,
        logger,
        run: (signal) => this.auditor.tick(signal)
      }),
      new PeriodicTask({
        name: 'repair check',
        // A slice of the pass per tick (the pass begins every repairIntervalMs), then the queue.
        intervalMs: repairIntervalMs > 0 ? components.settings.scanTickMs : 0,
        when: leased,
        logger,
        run: (signal) => this.repairer.tick(signal)
      }),
      new PeriodicTask({
        name: 'version purge',
        intervalMs: versionPurgeIntervalMs,
        when: leased,
        logger,
        run: (signal) => components.versions.purge(signal)
      })
    ]
  }

  start(): Promise<void> {
    return startAll(this.#tasks)
  }

  async stop(): Promise<void> {
    await stopAll(this.#tasks)
    if (this.#leaseHeld) {
      this.#leaseHeld = false
      try {
        await this.#c.store.coordination.releaseLease(LEASE, this.#holder)
      } catch (err) {
        // It expires on its own; another tracker only waits longer.
        this.#c.logger.warn({ err: describeError(err) }, 'could not give up the audit and repair lease')
      }
    }
  }

  /** Whether this tracker runs audits and repair now. */
  get leaseHeld(): boolean {
    return this.#leaseHeld
  }

  async #renewLease(renewMs: number, signal: AbortSignal): Promise<void> {
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
