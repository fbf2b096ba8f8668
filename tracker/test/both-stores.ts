import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelStore } from '../src/store/level-store.ts'
import { PgStore } from '../src/store/pg/pg-store.ts'
import type { Store } from '../src/store/store.ts'
import { createTestDatabase } from './pg-harness.ts'
import { openHarness } from './store-compliance.ts'

/** Two handles on one backing store: two processes on PostgreSQL, one (level is single-process). */
export type OpenBoth = () => Promise<{ first: Store; second: Store; reopen(): Promise<Store> }>

/** Level and PostgreSQL, each fresh per test and removed after it. */
export const bothStores: [string, OpenBoth][] = [
  [
    'level',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'shoal-scan-'))
      const { store, reopen } = await openHarness({
        create: async () => new LevelStore({ location: join(dir, 'db') }),
        destroy: () => rm(dir, { recursive: true, force: true })
      })
      return { first: store, second: store, reopen }
    }
  ],
  [
    'pg',
    async () => {
      const db = await createTestDatabase()
      const { store, create } = await openHarness({
        create: async () => new PgStore({ url: db.url, migrate: true, maxConnections: 4 }),
        destroy: () => db.drop()
      })
      return { first: store, second: await create(), reopen: create }
    }
  ]
]
