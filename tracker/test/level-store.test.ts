import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelStore } from '../src/store/level-store.ts'
import { runStoreCompliance } from './store-compliance.ts'

runStoreCompliance('LevelStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-level-store-'))
  return {
    create: async () => new LevelStore({ location: join(dir, 'db') }),
    destroy: () => rm(dir, { recursive: true, force: true })
  }
})
