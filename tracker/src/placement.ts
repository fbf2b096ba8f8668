export interface PlacementCandidate {
  peerId: string
  /** Free bytes, less what was granted and not yet reported. */
  free: number
  /** Failure domain (see subnetOf); default: the node alone. No two pieces of a segment share one. */
  subnet?: string
  /** Passed its vetting audits; default true. Unvetted nodes get only a few pieces while vetted ones can take them. */
  vetted?: boolean
  /** Reputation in [0, 1] (audit score times uptime score); default 1. Better nodes come first. */
  score?: number
}

export interface PlacementOptions {
  /** Share of a segment's pieces that may go to unvetted nodes while vetted ones have room; at least one. */
  newNodeFraction?: number
  /** Failure domains the segment already uses (pieces that stay where they are, during repair). */
  takenSubnets?: Iterable<string>
}

/** Scores within this of each other count as equal, so free space and rotation still spread the load. */
const SCORE_BUCKET = 0.05

/** A candidate's score bucket: better first when ranking. */
export function scoreBucket(score = 1): number {
  return Math.floor(score / SCORE_BUCKET)
}

/** A candidate with its score bucket worked out, as `rankCandidates` sorts them. */
export interface RankedCandidate extends PlacementCandidate {
  bucket: number
}

/** Placement's order: better score bucket, then more free space, then peer id (a total order). */
export function byRank(a: RankedCandidate, b: RankedCandidate): number {
  return b.bucket - a.bucket || b.free - a.free || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
}

/** The candidates in placement's order (see byRank), as `pickPlacement` takes them. */
export function rankCandidates(candidates: readonly PlacementCandidate[]): RankedCandidate[] {
  return candidates.map((c) => ({ ...c, bucket: scoreBucket(c.score) })).sort(byRank)
}

/**
 * Picks `count` nodes for the pieces of one segment (piece i goes to the i-th node returned), or undefined if
 * too few can take a piece of `pieceSize` bytes in distinct failure domains.
 *
 * Nodes with a better score come first, then those with more free space, and the starting point moves with
 * `rotation` (the segment index), so consecutive segments land on different nodes and the load spreads even
 * when all nodes are alike. Never two pieces on one node or one subnet. Unvetted nodes get at most
 * `newNodeFraction` of the pieces (at least one) unless the vetted ones cannot hold the segment: a new network,
 * where every node is new, still works. When a segment is placed again (the client could not reach some nodes),
 * `previous[i]`, the node that had piece i, keeps it if it is still a candidate: only the failed pieces move, and
 * pieces already stored stay valid.
 */
export function choosePlacement(
  candidates: readonly PlacementCandidate[],
  count: number,
  pieceSize: number,
  rotation: number,
  previous: readonly (string | undefined)[] = [],
  options: PlacementOptions = {}
): string[] | undefined {
  return pickPlacement(rankCandidates(candidates), count, pieceSize, rotation, previous, options)
}

/**
 * `choosePlacement` over candidates already in placement's order (`byRank`): the node registry keeps its
 * candidates ranked between requests (re-sorting a nearly sorted array is about one pass), so a placement
 * costs a walk of the network, not a sort and several copies of it. Candidates in `exclude` are left out.
 */
export function pickPlacement(
  ranked: readonly RankedCandidate[],
  count: number,
  pieceSize: number,
  rotation: number,
  previous: readonly (string | undefined)[] = [],
  options: PlacementOptions & { exclude?: ReadonlySet<string> } = {}
): string[] | undefined {
  const { exclude } = options
  const subnet = (c: PlacementCandidate): string => c.subnet ?? `node:${c.peerId}`
  const chosen: (string | undefined)[] = Array.from({ length: count }, () => undefined)
  const taken = new Set<string>()
  const subnets = new Set<string>(options.takenSubnets ?? [])
  let newUsed = 0
  const take = (i: number, c: PlacementCandidate): void => {
    chosen[i] = c.peerId
    taken.add(c.peerId)
    subnets.add(subnet(c))
    if (c.vetted === false) newUsed++
  }
  const fits = (c: RankedCandidate): boolean => c.free >= pieceSize && exclude?.has(c.peerId) !== true
  if (previous.some((p) => p !== undefined)) {
    const byId = new Map<string, RankedCandidate>()
    for (const c of ranked) if (fits(c)) byId.set(c.peerId, c)
    for (let i = 0; i < count; i++) {
      const node = previous[i] === undefined ? undefined : byId.get(previous[i] as string)
      if (node !== undefined && !taken.has(node.peerId) && !subnets.has(subnet(node))) take(i, node)
    }
  }
  const maxNew = Math.max(1, Math.floor(count * (options.newNodeFraction ?? 1)))
  const pool: RankedCandidate[] = []
  for (const c of ranked) if (fits(c) && !taken.has(c.peerId)) pool.push(c)
  const start = pool.length === 0 ? 0 : rotation % pool.length
  // First pass keeps to the cap on new nodes; the second lifts it when vetted nodes alone are too few.
  for (const capped of [true, false]) {
    let next = 0
    for (let i = 0; i < count; i++) {
      if (chosen[i] !== undefined) continue
      while (next < pool.length) {
        const c = pool[(start + next++) % pool.length] as RankedCandidate
        if (taken.has(c.peerId) || subnets.has(subnet(c))) continue
        if (c.vetted === false && capped && newUsed >= maxNew) continue
        take(i, c)
        break
      }
    }
    if (chosen.every((c) => c !== undefined)) return chosen as string[]
  }
  return undefined
}

/** Failure domains available for one segment: what bounds how many pieces it can place. */
export function distinctSubnets(candidates: readonly PlacementCandidate[], pieceSize: number): number {
  return new Set(candidates.filter((c) => c.free >= pieceSize).map((c) => c.subnet ?? `node:${c.peerId}`)).size
}
