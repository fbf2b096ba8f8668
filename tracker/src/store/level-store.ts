import { LevelAccounts } from './level/accounts.ts'
import { LevelCoordination } from './level/coordination.ts'
import { LevelLedger } from './level/ledger.ts'
import { LevelDb } from './level/level-db.ts'
import { LevelModeration } from './level/moderation.ts'
import { LevelNodes } from './level/nodes.ts'
import { LevelObjects } from './level/objects.ts'
import { LevelReputations } from './level/reputations.ts'
import { LevelShares } from './level/shares.ts'
import { LevelUploads } from './level/uploads.ts'
import type { Store } from './store.ts'

export interface LevelStoreInit {
  /** Folder of the LevelDB database. */
  location: string
}

/**
 * The embedded store: one LevelDB folder, one process. Each domain part is its own class over the shared
 * database (level/level-db.ts names which part writes which keys).
 */
export class LevelStore implements Store {
  readonly #db: LevelDb
  readonly accounts: LevelAccounts
  readonly uploads: LevelUploads
  readonly objects: LevelObjects
  readonly shares: LevelShares
  readonly nodes: LevelNodes
  readonly reputations: LevelReputations
  readonly ledger: LevelLedger
  readonly coordination: LevelCoordination
  readonly moderation: LevelModeration

  constructor(init: LevelStoreInit) {
    const db = new LevelDb(init.location)
    this.#db = db
    this.accounts = new LevelAccounts(db)
    this.uploads = new LevelUploads(db)
    this.objects = new LevelObjects(db)
    this.shares = new LevelShares(db)
    this.nodes = new LevelNodes(db)
    this.reputations = new LevelReputations(db)
    this.ledger = new LevelLedger(db)
    this.moderation = new LevelModeration(db)
    this.coordination = new LevelCoordination(db)
  }

  open(): Promise<void> {
    return this.#db.open()
  }

  close(): Promise<void> {
    return this.#db.close()
  }
}
