import { timingSafeEqual } from 'node:crypto'
import {
  type DownloadGrantsResponse,
  ErrorCode,
  fromBase64Url,
  type ListSharesResponse,
  MAX_SHARE_GRANT_SEGMENTS,
  randomBytes,
  type ShareInfo,
  type ShareView,
  ShoalError,
  toBase64Url
} from '@shoal/core'
import { hashAuthKey } from './accounts.ts'
import { receiptKeyOf } from './billing/receipt-key.ts'
import type { TrackerConfig } from './config.ts'
import { AUTH_SCRYPT } from './constants.ts'
import { randomId } from './ids.ts'
import type { ModerationGate } from './moderation.ts'
import { type Objects, objectInfo } from './objects.ts'
import { type BucketKey, RATE_LIMITS, takeOrRefuse } from './rate-limit.ts'
import type { AccountRecord, ObjectRecord, ShareRecord, StoreParts } from './store/store.ts'
import { parseCreateShare, parseShareGrants, parseUpdateShare } from './validate.ts'

export interface SharesComponents {
  store: StoreParts<'shares' | 'objects' | 'coordination'>
  config: TrackerConfig
  objects: Objects
  /** Takedowns and suspended owners (moderation.ts); default none. */
  gate?: Pick<ModerationGate, 'checkShare' | 'removedAt'>
}

/**
 * Share links. The tracker keeps which object a share opens, its expiry, revocation and a password check; the
 * file key travels only in the link's fragment, which browsers never send. Visitors get get-grants (billed to
 * the owner) while the share is live: a revoked or expired share, or one whose file was deleted, gets none.
 */
export class Shares {
  readonly #store: StoreParts<'shares' | 'objects' | 'coordination'>
  readonly #config: TrackerConfig
  readonly #objects: Objects
  readonly #gate: Pick<ModerationGate, 'checkShare' | 'removedAt'> | undefined

  constructor(components: SharesComponents) {
    this.#store = components.store
    this.#config = components.config
    this.#objects = components.objects
    this.#gate = components.gate
  }

  /** Takes a token from each bucket or fails with ERR_RATE_LIMITED (details: retryAfterMs), taking none. */
  #limit(keys: BucketKey[]): Promise<void> {
    return takeOrRefuse(this.#store.coordination, keys, this.#config.clock.now())
  }

  async create(owner: AccountRecord, body: unknown): Promise<ShareView> {
    const now = this.#config.clock.now()
    const request = parseCreateShare(body, now)
    const object = await this.#store.objects.getObject(request.objectId)
    if (object === undefined || object.owner !== owner.id) {
      throw new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `object ${request.objectId} does not exist`)
    }
    let password: ShareRecord['password']
    if (request.password !== undefined) {
      const authSalt = randomBytes(AUTH_SCRYPT.saltLength)
      password = {
        salt: request.password.salt,
        authSalt: toBase64Url(authSalt),
        authHash: toBase64Url(await hashAuthKey(request.password.authKey, authSalt))
      }
    }
    const share: ShareRecord = {
      id: randomId(),
      owner: owner.id,
      objectId: object.id,
      meta: request.meta,
      createdAt: now,
      ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
      ...(password === undefined ? {} : { password })
    }
    await this.#store.shares.createShare(share)
    this.#config.logger.info({ share: share.id, object: object.id }, 'share created')
    return shareView(share)
  }

  async list(owner: AccountRecord): Promise<ListSharesResponse> {
    const shares = await this.#store.shares.listShares(owner.id)
    const removed = (await this.#gate?.removedAt(shares)) ?? []
    return {
      shares: shares.map((share, i) => {
        const removedAt = removed[i]
        return { ...shareView(share), ...(removedAt === undefined ? {} : { removedAt }) }
      })
    }
  }

  /** Changes a live link's expiry (a revoked one stays revoked); `expiresAt: null` removes it. */
  async update(owner: AccountRecord, id: string, body: unknown): Promise<ShareView> {
    const request = parseUpdateShare(body, this.#config.clock.now())
    const share = await this.#store.shares.getShare(id)
    if (share === undefined || share.owner !== owner.id) {
      throw new ShoalError(ErrorCode.SHARE_NOT_FOUND, 'this share does not exist')
    }
    if (share.revokedAt !== undefined) {
      throw new ShoalError(ErrorCode.SHARE_REVOKED, 'this share was revoked: create a new one', {
        details: { revokedAt: share.revokedAt }
      })
    }
    const updated = await this.#store.shares.updateShareExpiry(id, request.expiresAt ?? undefined)
    this.#config.logger.info({ share: id, expiresAt: request.expiresAt }, 'share expiry changed')
    return shareView(updated)
  }

  async revoke(owner: AccountRecord, id: string): Promise<ShareView> {
    const share = await this.#store.shares.getShare(id)
    if (share === undefined || share.owner !== owner.id) {
      throw new ShoalError(ErrorCode.SHARE_NOT_FOUND, 'this share does not exist')
    }
    const revoked = await this.#store.shares.revokeShare(id, this.#config.clock.now())
    this.#config.logger.info({ share: id }, 'share revoked')
    return shareView(revoked)
  }

  /** Public: what the share page needs, or why the share cannot be opened. */
  async info(id: string): Promise<ShareInfo> {
    const { share, object } = await this.#live(id)
    const { wrappedKey: _key, meta: _meta, nameHash: _name, ...layout } = objectInfo(object)
    return {
      id: share.id,
      meta: share.meta,
      createdAt: share.createdAt,
      ...(share.expiresAt === undefined ? {} : { expiresAt: share.expiresAt }),
      ...(share.password === undefined ? {} : { password: { salt: share.password.salt } }),
      object: layout
    }
  }

  /**
   * Public: get grants for a live share, after the password check if it has one. `ip` is the visitor's address:
   * requests are limited per address, each covers at most MAX_SHARE_GRANT_SEGMENTS segments, and the grants
   * signed come out of a budget per address and per share before any is signed; password checks are limited
   * per share, per owner and per address, before the scrypt runs, so guessing is slow and the hash is no free
   * CPU (issue 12).
   */
  async grants(id: string, body: unknown, ip = 'unknown'): Promise<DownloadGrantsResponse> {
    await this.#limit([{ key: `share-grants-ip:${ip}`, rule: RATE_LIMITS.shareGrantsPerIp }])
    const { share, object } = await this.#live(id)
    const request = parseShareGrants(body, object.segmentCount, MAX_SHARE_GRANT_SEGMENTS)
    if (share.password !== undefined) {
      const wrong = () => new ShoalError(ErrorCode.SHARE_PASSWORD, 'wrong password for this share')
      if (request.authKey === undefined) throw wrong()
      await this.#limit([
        { key: `share-pw:${share.id}`, rule: RATE_LIMITS.sharePasswordPerShare },
        { key: `share-pw-owner:${share.owner}`, rule: RATE_LIMITS.sharePasswordPerOwner },
        { key: `share-pw-ip:${ip}`, rule: RATE_LIMITS.sharePasswordPerIp }
      ])
      const hash = await hashAuthKey(request.authKey, fromBase64Url(share.password.authSalt))
      const expected = fromBase64Url(share.password.authHash)
      if (expected.byteLength !== hash.byteLength || !timingSafeEqual(expected, hash)) throw wrong()
    }
    const cost = (request.to - request.from) * (object.k + object.m)
    await this.#limit([
      { key: `share-grant-budget-ip:${ip}`, rule: RATE_LIMITS.shareGrantBudgetPerIp, cost },
      { key: `share-grant-budget:${share.id}`, rule: RATE_LIMITS.shareGrantBudgetPerShare, cost }
    ])
    const grants = await this.#objects.grantsFor(object, request.from, request.to, receiptKeyOf(body), `s:${share.id}`)
    // A download starts with the first segment: that is what the owner's download count counts (a resumed or
    // ranged read that skips it does not).
    if (request.from === 0) await this.#store.shares.countShareDownload(share.id)
    return grants
  }

  async #live(id: string): Promise<{ share: ShareRecord; object: ObjectRecord }> {
    const share = await this.#store.shares.getShare(id)
    if (share === undefined) throw new ShoalError(ErrorCode.SHARE_NOT_FOUND, 'this share does not exist')
    if (share.revokedAt !== undefined) {
      throw new ShoalError(ErrorCode.SHARE_REVOKED, 'this share was revoked by its owner', {
        details: { revokedAt: share.revokedAt }
      })
    }
    // The operator's takedown comes before the owner's own states: the visitor is told who disabled the link.
    await this.#gate?.checkShare(share)
    if (share.expiresAt !== undefined && share.expiresAt <= this.#config.clock.now()) {
      throw new ShoalError(ErrorCode.SHARE_EXPIRED, 'this share has expired', {
        details: { expiresAt: share.expiresAt }
      })
    }
    const object = await this.#store.objects.getObject(share.objectId)
    if (object === undefined || object.owner !== share.owner) {
      throw new ShoalError(ErrorCode.SHARE_NOT_FOUND, 'the shared file no longer exists')
    }
    return { share, object }
  }
}

export function shareView(share: ShareRecord): ShareView {
  return {
    id: share.id,
    objectId: share.objectId,
    meta: share.meta,
    createdAt: share.createdAt,
    ...(share.expiresAt === undefined ? {} : { expiresAt: share.expiresAt }),
    ...(share.revokedAt === undefined ? {} : { revokedAt: share.revokedAt }),
    passwordProtected: share.password !== undefined,
    downloads: share.downloads ?? 0
  }
}
