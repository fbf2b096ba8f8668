export interface PlacementCandidate {
  peerId: string
  /** Free bytes, less what was granted and not yet reported. */
  free: number
}

/**
 * Picks `count` distinct nodes for the pieces of one segment (piece i goes to the i-th node returned), or
 * undefined if too few can take a piece of `pieceSize` bytes.
 *
 * Nodes with more free space come first, and the starting point moves with `rotation` (the segment index), so
 * consecutive segments land on different nodes and the load spreads even when all nodes are alike. When a
 * segment is placed again (the client could not reach some nodes), `previous[i]`, the node that had piece i,
 * keeps it if it is still a candidate: only the failed pieces move, and pieces already stored stay valid.
 */
export function choosePlacement(
  candidates: readonly PlacementCandidate[],
  count: number,
  pieceSize: number,
  rotation: number,
  previous: readonly (string | undefined)[] = []
): string[] | undefined {
  const fit = candidates
    .filter((c) => c.free >= pieceSize)
    .sort((a, b) => b.free - a.free || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
  if (fit.length < count) return undefined
  const eligible = new Set(fit.map((c) => c.peerId))
  const chosen: (string | undefined)[] = Array.from({ length: count }, () => undefined)
  const taken = new Set<string>()
  for (let i = 0; i < count; i++) {
    const node = previous[i]
    if (node !== undefined && eligible.has(node) && !taken.has(node)) {
      chosen[i] = node
      taken.add(node)
    }
  }
  const pool = fit.filter((c) => !taken.has(c.peerId))
  let next = pool.length === 0 ? 0 : rotation % pool.length
  for (let i = 0; i < count; i++) {
    if (chosen[i] !== undefined) continue
    chosen[i] = (pool[next % pool.length] as PlacementCandidate).peerId
    next++
  }
  return chosen as string[]
}
