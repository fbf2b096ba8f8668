import type { Store } from '../store.ts'
import { PgAccounts } from './accounts.ts'
import { PgCoordination } from './coordination.ts'
import { PgLedger } from './ledger.ts'
import { PgModeration } from './moderation.ts'
import { PgNodes } from './nodes.ts'
import { PgObjects } from './objects.ts'
import { PgDb, type PgStoreInit } from './pg-db.ts'
import { PgReputations } from './reputations.ts'
import { PgShares } from './shares.ts'
import { PgUploads } from './uploads.ts'

export { type PgStoreInit, redact } from './pg-db.ts'

/**
 * The shared store: one PostgreSQL database that several tracker processes use at once. Each domain part is its
 * own class over the shared pool (pg-db.ts). Uniqueness (emails, names) is the database's own constraints;
 * heartbeat order is one conditional upsert; every other decision locks its rows in the order account → upload
 * → object and applies a rule from ../rules.ts.
 */
export class PgStore implements Store {
  readonly #db: PgDb
  readonly accounts: PgAccounts
  readonly uploads: PgUploads
  readonly objects: PgObjects
  readonly shares: PgShares
  readonly nodes: PgNodes
  readonly reputations: PgReputations
  readonly ledger: PgLedger
  readonly coordination: PgCoordination
  readonly moderation: PgModeration

  constructor(init: PgStoreInit) {
    const db = new PgDb(init)
    this.#db = db
    this.accounts = new PgAccounts(db)
    this.uploads = new PgUploads(db)
    this.objects = new PgObjects(db)
    this.shares = new PgShares(db)
    this.nodes = new PgNodes(db)
    this.reputations = new PgReputations(db)
    this.ledger = new PgLedger(db)
    this.moderation = new PgModeration(db)
    this.coordination = new PgCoordination(db)
  }

  /** Where it connects, without a password, for messages. */
  get where(): string {
    return this.#db.where
  }

  open(): Promise<void> {
    return this.#db.open()
  }

  close(): Promise<void> {
    return this.#db.close()
  }
}
