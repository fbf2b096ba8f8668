import type { NodeReputation } from '../records.ts'
import type { ReputationStore } from '../store.ts'
import { K, type LevelDb } from './level-db.ts'

export class LevelReputations implements ReputationStore {
  readonly #db: LevelDb

  constructor(db: LevelDb) {
    this.#db = db
  }

  getReputation(peerId: string): Promise<NodeReputation | undefined> {
    return this.#db.get(K.rep(peerId))
  }

  listReputations(): Promise<NodeReputation[]> {
    return this.#db.values('rep:')
  }

  putReputation(record: NodeReputation): Promise<boolean> {
    return this.#db.locks.run(K.rep(record.peerId), async () => {
      const current = await this.#db.get<NodeReputation>(K.rep(record.peerId))
      if ((current?.version ?? 0) !== record.version - 1) return false
      await this.#db.batch([{ type: 'put', key: K.rep(record.peerId), value: record }])
      return true
    })
  }
}
