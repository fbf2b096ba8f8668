/**
 * @shoal/tracker — the Shoal tracker: accounts and sessions, the storage-node registry, placement, signed
 * grants, upload commits and manifests, over a versioned HTTP API (`wire/tracker-api.ts` in @shoal/core). It
 * never receives a key or a plaintext byte. State lives in a `Store`: embedded LevelDB by default.
 *
 * @example
 * ```ts
 * import { createTracker } from '@shoal/tracker'
 * const tracker = createTracker({ dataDir: './tracker-data', port: 0, policy: { k: 4, m: 2 } })
 * await tracker.start()
 * console.log(await (await fetch(`${tracker.url}/v1/info`)).json())
 * await tracker.stop()
 * ```
 */
export type { Clock, ResolvedPolicy, TrackerInit, TrackerPolicy } from './config.ts'
export { parseDuration } from './config.ts'
export { DEFAULTS } from './constants.ts'
export {
  AUTO_LAYOUTS,
  type AutoLayout,
  autoLayout,
  chooseLayout,
  type Layout,
  minCommitFloor,
  minCommitFor
} from './erasure-policy.ts'
export { type Mail, type MailSender, OutboxMailSender } from './mail/mail-sender.ts'
export { KeyedMutex } from './store/keyed-mutex.ts'
export { LevelStore, type LevelStoreInit } from './store/level-store.ts'
export { PgStore, type PgStoreInit } from './store/pg/pg-store.ts'
export type * from './store/store.ts'
export { createTracker, TRACKER_VERSION, Tracker } from './tracker.ts'
