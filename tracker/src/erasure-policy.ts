import { minStoredPieces, pieceSize } from '@shoal/core'

/** A Reed-Solomon layout: k data pieces and m parity pieces per segment, any k of which rebuild it. */
export interface Layout {
  k: number
  m: number
}

/** One rung of the automatic ladder: the layout, and the online nodes it needs. */
export interface AutoLayout extends Layout {
  minNodes: number
}

/**
 * Spare nodes a layout wants beyond its k + m: one per eight pieces, at least one. When a node cannot be reached
 * during an upload, its piece is placed again on a node outside the segment's set; and with one spare, m nodes
 * down (before the tracker notices) still leave k + 1 = minStoredPieces to store each segment on, degraded.
 */
export function spareNodes(layout: Layout): number {
  return Math.max(1, Math.floor((layout.k + layout.m) / 8))
}

function rung(k: number, m: number, spare = spareNodes({ k, m })): AutoLayout {
  return { k, m, minNodes: k + m + spare }
}

/**
 * The automatic layouts, widest first; an upload gets the first one whose `minNodes` the network meets (see
 * docs/decisions.md, "Erasure layout"). m = k (twice the bytes stored) wherever the network allows it, because
 * without repair parity is the only defence against nodes that leave; k grows with the network so downloads
 * spread over more nodes, and stops at 8, where pieces of an 8 MiB segment are 1 MiB and the WASM
 * Reed-Solomon encoder (~320 MB/s per thread at m = 8) is about as fast as the client's transport. Three nodes
 * can only hold 2+1, with no spare: the one rung where a node down degrades nothing but blocks nothing either
 * (2 of 3 pieces is still minStoredPieces).
 */
export const AUTO_LAYOUTS: readonly AutoLayout[] = [
  rung(8, 8),
  rung(6, 6),
  rung(4, 4),
  rung(3, 3),
  rung(2, 2),
  rung(2, 1, 0)
]

/** The widest automatic layout `nodes` online nodes can hold, or undefined below the smallest. */
export function autoLayout(nodes: number): AutoLayout | undefined {
  return AUTO_LAYOUTS.find((l) => nodes >= l.minNodes)
}

/**
 * Fewest receipts a segment may commit with: k + ceil(m / 2). Pieces cancelled at commit are deleted and,
 * with no repair, never come back, so a long-tail commit may give up at most half of the layout's parity: a
 * segment committed early still survives the loss of ceil(m / 2) nodes. With m = 0 or 1 nothing can be cut.
 */
export function minCommitFloor(layout: Layout): number {
  return layout.k + Math.ceil(layout.m / 2)
}

/** The commit threshold for a layout when up to `longTail` of the slowest pushes may be cancelled. */
export function minCommitFor(layout: Layout, longTail: number): number {
  return Math.max(minCommitFloor(layout), layout.k + layout.m - longTail)
}

/** How a policy is set: a fixed layout, or automatic; see ResolvedPolicy in config.ts. */
export interface PolicySettings {
  layout: Layout | undefined
  segmentSize: number
  minCommitPieces: number | undefined
  longTail: number
}

export interface LayoutChoice extends Layout {
  minCommitPieces: number
}

/**
 * The layout and commit threshold for an upload of `size` bytes, given the free bytes of each online node: a
 * node counts for a layout if it can hold that layout's largest piece (segment 0). A fixed layout is kept while
 * at least minStoredPieces nodes are online (its segments are then stored degraded, and repaired later). Too
 * few nodes: what was needed (minStoredPieces for a fixed layout, the smallest rung's node count otherwise) and
 * how many could serve.
 */
export function chooseLayout(
  policy: PolicySettings,
  size: number,
  free: readonly number[]
): LayoutChoice | { needed: number; available: number } {
  const fitting = (layout: Layout): number => {
    const piece = pieceSize({ size, segmentSize: policy.segmentSize, ...layout }, 0)
    return free.filter((f) => f >= piece).length
  }
  if (policy.layout !== undefined) {
    const { k, m } = policy.layout
    const available = fitting(policy.layout)
    const needed = minStoredPieces(policy.layout)
    if (available < needed) return { needed, available }
    return { k, m, minCommitPieces: policy.minCommitPieces ?? k + m }
  }
  for (const rung of AUTO_LAYOUTS) {
    if (fitting(rung) >= rung.minNodes) {
      return { k: rung.k, m: rung.m, minCommitPieces: minCommitFor(rung, policy.longTail) }
    }
  }
  const smallest = AUTO_LAYOUTS.at(-1) as AutoLayout
  return { needed: smallest.minNodes, available: fitting(smallest) }
}
