import type { NodeReputation } from '../records.ts'
import type { ReputationStore } from '../store.ts'
import type { PgDb } from './pg-db.ts'

export class PgReputations implements ReputationStore {
  readonly #db: PgDb

  constructor(db: PgDb) {
    this.#db = db
  }

  async getReputation(peerId: string): Promise<NodeReputation | undefined> {
    const [row] = await this.#db.query<{ record: NodeReputation }>(
      'SELECT record FROM node_reputations WHERE peer_id = $1',
      [peerId]
    )
    return row?.record
  }

  async listReputations(): Promise<NodeReputation[]> {
    const rows = await this.#db.query<{ record: NodeReputation }>(
      'SELECT record FROM node_reputations ORDER BY peer_id COLLATE "C"'
    )
    return rows.map((r) => r.record)
  }

  async putReputation(record: NodeReputation): Promise<boolean> {
    const rows = await this.#db.query(
      record.version === 1
        ? 'INSERT INTO node_reputations (peer_id, version, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1'
        : `UPDATE node_reputations SET version = $2, record = $3 WHERE peer_id = $1 AND version = $2 - 1 RETURNING 1`,
      [record.peerId, record.version, JSON.stringify(record)]
    )
    return rows.length === 1
  }
}
