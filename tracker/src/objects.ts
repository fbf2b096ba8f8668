import {
  type DeleteObjectResponse,
  type DownloadGrantsResponse,
  ErrorCode,
  type GrantedPiece,
  isShoalError,
  type ListObjectsResponse,
  MAX_GRANT_SEGMENTS,
  type ObjectInfo,
  type ObjectSummary,
  type OpenObjectResponse,
  pieceSize,
  type SegmentManifest,
  ShoalError
} from '@shoal/core'
import { type ReceiptKeyHolder, type ReceiptKeys, receiptKeyOf } from './billing/receipt-key.ts'
import type { TrackerConfig } from './config.ts'
import { deleteOrders, type GrantSigner } from './grants.ts'
import type { NodeRegistry } from './node-registry.ts'
import type { AccountRecord, DeleteOrderRecord, ObjectRecord, StoreParts } from './store/store.ts'
import { parseDownloadGrants, parseOpenObject, parseUpdateObject } from './validate.ts'

/** Versions deleted per store read when a file goes. */
const VERSION_PAGE = 100

export interface ObjectsComponents {
  store: StoreParts<'objects'>
  config: TrackerConfig
  registry: NodeRegistry
  signer: GrantSigner
  receiptKeys: ReceiptKeys
}

/** Committed objects: listing, lookup by name, download grants and deletion. */
export class Objects {
  readonly #store: StoreParts<'objects'>
  readonly #config: TrackerConfig
  readonly #registry: NodeRegistry
  readonly #signer: GrantSigner
  readonly #receiptKeys: ReceiptKeys

  constructor(components: ObjectsComponents) {
    this.#receiptKeys = components.receiptKeys
    this.#store = components.store
    this.#config = components.config
    this.#registry = components.registry
    this.#signer = components.signer
  }

  /** One page of the owner's objects; `next` when more may follow (one extra row read tells). */
  async list(ownerId: string, page: { after?: string; limit: number }): Promise<ListObjectsResponse> {
    const rows = await this.#store.objects.listObjects(ownerId, { ...page, limit: page.limit + 1 })
    const objects = rows.slice(0, page.limit).map(objectSummary)
    const last = objects.at(-1)
    return rows.length > page.limit && last !== undefined ? { objects, next: last.nameHash } : { objects }
  }

  async byName(ownerId: string, nameHash: string): Promise<ObjectInfo> {
    const object = await this.#store.objects.getObjectByName(ownerId, nameHash)
    if (object === undefined) throw new ShoalError(ErrorCode.OBJECT_NOT_FOUND, 'no object has this name')
    return objectInfo(object)
  }

  /**
   * A get grant for every piece of segments [from, to); within a segment, pieces on online nodes come first. The
   * hot path of every download: one store read for the object and its segments together, and no account read.
   */
  async grants(ownerId: string, objectId: string, body: unknown): Promise<DownloadGrantsResponse> {
    const hint = grantRangeHint(body)
    const found = await this.#store.objects.getObjectWithSegments(objectId, hint.from, hint.to)
    if (found === undefined || found.object.owner !== ownerId) throw notFound(objectId)
    const { from, to } = parseDownloadGrants(body, found.object.segmentCount, MAX_GRANT_SEGMENTS)
    // The hint is the checked range whenever the body is valid; this only guards that promise.
    const segments =
      from === hint.from && to === hint.to
        ? found.segments
        : await this.#store.objects.getObjectSegments(objectId, from, to)
    const receipts = await this.#receipts(receiptKeyOf(body), `a:${ownerId}`)
    return this.#grantsFor(found.object, segments, await this.#registry.addresses(), receipts)
  }

  /**
   * A download's first call: the object by name and grants for its first segments, so a download waits for one
   * round trip to the tracker before it dials the nodes, not two (on a WAN that is the first byte's largest
   * wait). Two store reads, the name's and the segments'.
   */
  async open(ownerId: string, nameHash: string, body: unknown): Promise<OpenObjectResponse> {
    const { first } = parseOpenObject(body, MAX_GRANT_SEGMENTS)
    const receiptKey = receiptKeyOf(body)
    const object = await this.#store.objects.getObjectByName(ownerId, nameHash)
    if (object === undefined) throw new ShoalError(ErrorCode.OBJECT_NOT_FOUND, 'no object has this name')
    const to = Math.min(first, object.segmentCount)
    const [segments, addresses, receipts] = await Promise.all([
      to === 0 ? [] : this.#store.objects.getObjectSegments(object.id, 0, to),
      this.#registry.addresses(),
      this.#receipts(receiptKey, `a:${ownerId}`)
    ])
    return { object: objectInfo(object), ...(await this.#grantsFor(object, segments, addresses, receipts)) }
  }

  /**
   * Get grants for segments [from, to) of an object, billed to its owner, asked for by `by` (a share link's
   * visitors: `s:<share id>`).
   */
  async grantsFor(
    object: ObjectRecord,
    from: number,
    to: number,
    rk: string | undefined,
    by: ReceiptKeyHolder
  ): Promise<DownloadGrantsResponse> {
    const [segments, addresses, receipts] = await Promise.all([
      this.#store.objects.getObjectSegments(object.id, from, to),
      this.#registry.addresses(),
      this.#receipts(rk, by)
    ])
    return this.#grantsFor(object, segments, addresses, receipts)
  }

  /** The grant fields that tie receipts to whoever asked: the key is bound to it first (or refused). */
  async #receipts(rk: string | undefined, by: ReceiptKeyHolder): Promise<{ rk: string; by: string } | undefined> {
    if (rk === undefined) return undefined
    await this.#receiptKeys.bind(rk, by)
    return { rk, by }
  }

  async #grantsFor(
    object: ObjectRecord,
    segments: readonly SegmentManifest[],
    addresses: ReadonlyMap<string, { online: boolean; addrs: string[] }>,
    receipts: { rk: string; by: string } | undefined
  ): Promise<DownloadGrantsResponse> {
    return {
      segments: await Promise.all(
        segments.map(async (segment) => {
          const size = pieceSize(object, segment.index)
          const online = (node: string) => addresses.get(node)?.online === true
          const ordered = [...segment.pieces].sort(
            (a, b) => Number(online(b.node)) - Number(online(a.node)) || a.index - b.index
          )
          const pieces = await Promise.all(
            ordered.map(async (piece): Promise<GrantedPiece> => {
              const { grant } = await this.#signer.sign({
                kind: 'get',
                piece: piece.cid,
                node: piece.node,
                account: object.owner,
                size,
                ...receipts
              })
              const known = addresses.get(piece.node)
              return {
                index: piece.index,
                cid: piece.cid,
                node: { peerId: piece.node, addrs: known?.addrs ?? [] },
                grant
              }
            })
          )
          return { index: segment.index, pieces }
        })
      )
    }
  }

  /** Rename or move: the object keeps its pieces and gets a new name hash and sealed metadata. */
  async rename(owner: AccountRecord, objectId: string, body: unknown): Promise<ObjectSummary> {
    const object = await this.get(owner, objectId)
    const { nameHash, meta } = parseUpdateObject(body)
    return objectSummary(await this.#store.objects.renameObject(object.id, nameHash, meta))
  }

  /**
   * Removes the object from the listing and the quota at once and queues a delete order per piece for its
   * node's next heartbeat. The same grants go back to the client, which may deliver them sooner. Deleting a
   * file deletes its older versions with it (docs/versions.md); deleting a version deletes that version only.
   */
  async delete(owner: AccountRecord, objectId: string): Promise<DeleteObjectResponse> {
    const object = await this.get(owner, objectId)
    const orders: DeleteOrderRecord[] = []
    if (object.supersededAt === undefined) {
      // Oldest last, a page at a time: each page is deleted before the next is read, so memory holds one page.
      for (;;) {
        const page = await this.#store.objects.listVersions(owner.id, object.nameHash, { limit: VERSION_PAGE })
        for (const version of page) orders.push(...((await this.releaseIfPresent(version)) ?? []))
        if (page.length < VERSION_PAGE) break
      }
    }
    orders.push(...(await this.release(object)))
    const addresses = await this.#registry.addresses()
    return {
      deletes: await Promise.all(
        orders.map(async (order) => ({
          ...(await this.#signer.signDelete(order)),
          node: { peerId: order.node, addrs: addresses.get(order.node)?.addrs ?? [] }
        }))
      )
    }
  }

  /**
   * Deletes one object (a file or an older version) and queues a delete order per piece for the nodes' next
   * heartbeats; returns the orders. ERR_OBJECT_NOT_FOUND if it is gone already.
   */
  async release(object: ObjectRecord): Promise<DeleteOrderRecord[]> {
    const now = this.#config.clock.now()
    const segments = await this.#store.objects.getObjectSegments(object.id, 0, object.segmentCount)
    const pieces = segments.flatMap((s) =>
      s.pieces.map((p) => ({ node: p.node, cid: p.cid, size: pieceSize(object, s.index) }))
    )
    const orders = deleteOrders(pieces, object.owner, now, object.id)
    await this.#store.objects.deleteObject(object.id, orders, now)
    this.#config.logger.info(
      { object: object.id, pieces: orders.length, version: object.supersededAt !== undefined },
      'object deleted'
    )
    return orders
  }

  /** Like `release`, but undefined when the object went meanwhile (its owner, the purge, another tracker). */
  async releaseIfPresent(object: ObjectRecord): Promise<DeleteOrderRecord[] | undefined> {
    try {
      return await this.release(object)
    } catch (err) {
      if (isShoalError(err, ErrorCode.OBJECT_NOT_FOUND)) return undefined
      throw err
    }
  }

  /** The caller's own object (a file or a version); anything else is "not found", so object ids cannot be probed. */
  async get(owner: AccountRecord, objectId: string): Promise<ObjectRecord> {
    const object = await this.#store.objects.getObject(objectId)
    if (object === undefined || object.owner !== owner.id) throw notFound(objectId)
    return object
  }
}

function notFound(objectId: string): ShoalError {
  return new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `object ${objectId} does not exist`)
}

/**
 * The segment range a grant request asks for, read before the object (and so its segment count) is known, so
 * that object and segments come in one read. Checked properly by parseDownloadGrants afterwards; a malformed
 * body reads no segments.
 */
function grantRangeHint(body: unknown): { from: number; to: number } {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { from?: unknown; to?: unknown }
  const { from, to } = b
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) return { from: 0, to: 0 }
  const f = from as number
  const t = to as number
  return f >= 0 && t > f && t - f <= MAX_GRANT_SEGMENTS ? { from: f, to: t } : { from: 0, to: 0 }
}

export function objectSummary(object: ObjectRecord): ObjectSummary {
  return {
    id: object.id,
    nameHash: object.nameHash,
    meta: object.meta,
    size: object.size,
    createdAt: object.createdAt,
    ...(object.supersededAt === undefined ? {} : { supersededAt: object.supersededAt })
  }
}

/** An object with what a download needs: its owner reads it by name, or as one of a file's versions. */
export function objectInfo(object: ObjectRecord): ObjectInfo {
  return {
    ...objectSummary(object),
    wrappedKey: object.wrappedKey,
    nonce: object.nonce,
    segmentSize: object.segmentSize,
    k: object.k,
    m: object.m,
    segmentCount: object.segmentCount
  }
}
