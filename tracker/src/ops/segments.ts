import type { PiecePlacement, SegmentManifest } from '@shoal/core'
import type { SegmentKey, StoredSegment, StoreParts, WalkedObject } from '../store/store.ts'

const PAGE = 500

export interface WalkedSegment {
  key: SegmentKey
  object: WalkedObject
  segment: SegmentManifest
}

/**
 * Every segment of every object, page by page (memory bounded by the page), with its object's layout: one store
 * read per page of PAGE segments.
 */
export async function* walkSegments(store: StoreParts<'objects'>, signal?: AbortSignal): AsyncGenerator<WalkedSegment> {
  let after: SegmentKey | undefined
  for (;;) {
    signal?.throwIfAborted()
    const page = await store.objects.listSegments(after, PAGE)
    if (page.length === 0) return
    yield* walkedPage(page)
    const last = page.at(-1) as { objectId: string; segment: SegmentManifest }
    after = { objectId: last.objectId, index: last.segment.index }
  }
}

/** A page of stored segments as walked ones. */
export function walkedPage(page: readonly StoredSegment[]): WalkedSegment[] {
  // An object deleted between the reads (level): its segments are gone too.
  return page.flatMap(({ objectId, segment, object }) =>
    object === undefined ? [] : [{ key: { objectId, index: segment.index }, object, segment }]
  )
}

/** `node/cid`: one piece on one node. */
export function pieceKey(piece: Pick<PiecePlacement, 'node' | 'cid'>): string {
  return `${piece.node}/${piece.cid}`
}
