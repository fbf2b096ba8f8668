import type { ListVersionsResponse, ObjectSummary, VersionPolicyResponse, VersionPolicyView } from '@shoal/core'
import type { TrackerConfig } from './config.ts'
import { type Objects, objectInfo, objectSummary } from './objects.ts'
import type { AccountRecord, ObjectRecord, StoreParts, VersionKey, VersionPolicy } from './store/store.ts'
import { parseRestoreVersion, parseVersionPolicy, type VersionsPage } from './validate.ts'

/** What an account keeps until it sets a policy of its own: the last 10 versions of a file, for 30 days. */
export const DEFAULT_VERSION_POLICY: Readonly<VersionPolicy> = { keep: 10, days: 30 }

const DAY = 24 * 60 * 60 * 1000
/** Versions read per store call during a purge pass. */
const PURGE_PAGE = 500

export interface VersionsComponents {
  store: StoreParts<'objects' | 'accounts'>
  config: TrackerConfig
  objects: Objects
}

/**
 * Older versions of files (docs/versions.md): listing and restoring them, the account's version policy, and the
 * purge that deletes versions past it.
 */
export class Versions {
  readonly #store: StoreParts<'objects' | 'accounts'>
  readonly #config: TrackerConfig
  readonly #objects: Objects

  constructor(components: VersionsComponents) {
    this.#store = components.store
    this.#config = components.config
    this.#objects = components.objects
  }

  /** One page of the older versions of the file `objectId` is now (or is a version of), newest first. */
  async list(owner: AccountRecord, objectId: string, page: VersionsPage): Promise<ListVersionsResponse> {
    const file = await this.#objects.get(owner, objectId)
    const rows = await this.#store.objects.listVersions(owner.id, file.nameHash, { ...page, limit: page.limit + 1 })
    const versions = rows.slice(0, page.limit)
    const last = versions.at(-1)
    return {
      versions: versions.map(objectInfo),
      ...(rows.length > page.limit && last !== undefined ? { next: `${last.supersededAt}.${last.id}` } : {})
    }
  }

  /** The version becomes its file's current object; the current one becomes a version. Nothing is deleted. */
  async restore(owner: AccountRecord, versionId: string, body: unknown): Promise<ObjectSummary> {
    const { meta } = parseRestoreVersion(body)
    const version = await this.#objects.get(owner, versionId)
    const restored = await this.#store.objects.restoreVersion(version.id, meta, this.#config.clock.now())
    this.#config.logger.info({ object: restored.id }, 'version restored')
    return objectSummary(restored)
  }

  async policy(owner: AccountRecord): Promise<VersionPolicyResponse> {
    const [policy, usage] = await Promise.all([this.#policyOf(owner.id), this.#store.objects.versionUsage(owner.id)])
    return { ...policyView(policy), ...usage }
  }

  async setPolicy(owner: AccountRecord, body: unknown): Promise<VersionPolicyResponse> {
    const view = parseVersionPolicy(body)
    await this.#store.accounts.setVersionPolicy(owner.id, {
      ...(view.keep === null ? {} : { keep: view.keep }),
      ...(view.days === null ? {} : { days: view.days })
    })
    return this.policy(owner)
  }

  /**
   * One pass over every older version: those past their account's policy are deleted (their pieces released
   * through delete orders, as a deleted file's are). The walk is grouped by file, newest first, so a version's
   * rank in its file is counted as it goes; memory holds one page and one account's policy.
   */
  async purge(signal?: AbortSignal): Promise<{ purged: number; bytes: number }> {
    const now = this.#config.clock.now()
    let purged = 0
    let bytes = 0
    let after: VersionKey | undefined
    let file = ''
    let rank = 0
    let owner: { id: string; policy: VersionPolicy } | undefined
    for (;;) {
      signal?.throwIfAborted()
      const page = await this.#store.objects.listAllVersions(after, PURGE_PAGE)
      for (const version of page) {
        const key = `${version.owner}/${version.nameHash}`
        rank = key === file ? rank + 1 : 0
        file = key
        if (owner?.id !== version.owner) owner = { id: version.owner, policy: await this.#policyOf(version.owner) }
        if (!expired(owner.policy, version, rank, now)) continue
        // Deleted or restored meanwhile (by its owner, or another tracker's pass): nothing left to purge.
        if ((await this.#objects.releaseIfPresent(version)) !== undefined) {
          purged++
          bytes += version.size
        }
      }
      const last = page.at(-1)
      if (page.length < PURGE_PAGE || last?.supersededAt === undefined) break
      after = { owner: last.owner, nameHash: last.nameHash, supersededAt: last.supersededAt, id: last.id }
    }
    if (purged > 0) this.#config.logger.info({ purged, bytes }, 'older versions purged by policy')
    return { purged, bytes }
  }

  async #policyOf(accountId: string): Promise<VersionPolicy> {
    return (await this.#store.accounts.getVersionPolicy(accountId)) ?? DEFAULT_VERSION_POLICY
  }
}

/** Whether a version, the `rank`-th newest of its file (0: the newest), is past its account's policy. */
export function expired(policy: VersionPolicy, version: ObjectRecord, rank: number, now: number): boolean {
  if (policy.keep !== undefined && rank >= policy.keep) return true
  const age = now - (version.supersededAt ?? now)
  return policy.days !== undefined && age >= policy.days * DAY
}

function policyView(policy: VersionPolicy): VersionPolicyView {
  return { keep: policy.keep ?? null, days: policy.days ?? null }
}
