import { ErrorCode, ShoalError } from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from '../config.ts'
import type { Startable } from '../lifecycle.ts'
import type { NodeReputation, StoreParts } from '../store/store.ts'
import { auditScore, newReputation, type ReputationPolicy, uptimeScore } from './reputation.ts'

/** What placement and the repair checker need to know of a node. */
export interface NodeStanding {
  vetted: boolean
  /** Audit score times uptime score. */
  score: number
  /** Disqualified: its pieces count as lost. */
  disqualified: boolean
  /** Leaving on purpose: no new pieces, its pieces are moved, but they still count until moved. */
  exiting: boolean
}

const UNKNOWN: NodeStanding = { vetted: false, score: 1, disqualified: false, exiting: false }

/**
 * Node reputations: read from the store into memory (placement asks for every segment) and updated through the
 * store's optimistic versions, so two tracker processes on one database never lose an update.
 */
export class Reputations implements Startable {
  readonly #store: StoreParts<'reputations'>
  readonly #policy: ReputationPolicy
  readonly #clock: Clock
  readonly #log: Logger
  readonly #cache = new Map<string, NodeReputation>()
  #version = 0

  constructor(init: { store: StoreParts<'reputations'>; policy: ReputationPolicy; clock: Clock; logger: Logger }) {
    this.#store = init.store
    this.#policy = init.policy
    this.#clock = init.clock
    this.#log = init.logger
  }

  /** Loads every reputation before the tracker takes requests: placement asks for standings at once. */
  start(): Promise<void> {
    return this.refresh()
  }

  async stop(): Promise<void> {}

  get policy(): ReputationPolicy {
    return this.#policy
  }

  /** Re-reads every reputation (other trackers may have written). */
  async refresh(): Promise<void> {
    for (const rep of await this.#store.reputations.listReputations()) this.#cache.set(rep.peerId, rep)
    this.#version++
  }

  /** Changes whenever a standing may have (placement keeps the standings it worked out until then). */
  get version(): number {
    return this.#version
  }

  standing(peerId: string): NodeStanding {
    const rep = this.#cache.get(peerId)
    if (rep === undefined) return UNKNOWN
    return {
      vetted: rep.vettedAt !== undefined,
      score: auditScore(rep) * uptimeScore(rep),
      disqualified: rep.disqualified !== undefined,
      exiting: rep.exiting !== undefined
    }
  }

  get(peerId: string): NodeReputation | undefined {
    return this.#cache.get(peerId)
  }

  all(): NodeReputation[] {
    return [...this.#cache.values()]
  }

  /** Applies `change` to the node's current reputation (a new one if it has none) and stores it. */
  async update(peerId: string, change: (rep: NodeReputation) => NodeReputation): Promise<NodeReputation> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const current =
        (await this.#store.reputations.getReputation(peerId)) ?? newReputation(peerId, this.#clock.now(), this.#policy)
      const next = { ...change(current), version: current.version + 1 }
      if (await this.#store.reputations.putReputation(next)) {
        this.#cache.set(peerId, next)
        this.#version++
        if (next.disqualified !== undefined && current.disqualified === undefined) {
          this.#log.warn({ node: peerId, reason: next.disqualified.reason }, 'node disqualified')
        }
        if (next.vettedAt !== undefined && current.vettedAt === undefined)
          this.#log.info({ node: peerId }, 'node vetted')
        return next
      }
    }
    throw new ShoalError(ErrorCode.CONFLICT, `reputation of node ${peerId} kept changing while it was updated`)
  }
}
