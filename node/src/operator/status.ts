import { describeError, type MetricFamily, singleMetric } from '@shoal/core'
import { NODE_VERSION } from '../constants.ts'
import type { ShoalNode } from '../shoal-node.ts'
import type { HistoryPoint } from './history.ts'

/** What the tracker says about this node (GET /v1/nodes/:id/reputation). */
export interface ReputationView {
  auditScore: number
  uptimeScore: number
  audits: { passed: number; failed: number; timedOut: number }
  vetted: boolean
  disqualified?: { at: number; reason: string }
}

/**
 * Earnings as the tracker's payout statements will state them. Filled in by the settlement side (helper
 * "money", issue 5); until then the dashboard shows "not available".
 */
export interface EarningsView {
  currency: string
  /** Micro-units earned this month so far, and held back (young nodes). */
  thisMonth: number
  heldBack: number
  /** Bytes of this month's egress that went to repair workers (paid like downloads). */
  servedToRepairs: number
  /** GiB-months of storage not paid this month because those pieces had failed their audits ("0.000000" if none). */
  unpaidGiBMonths: string
}

export interface NodeStatusView {
  version: string
  peerId: string
  status: string
  startedAt: number
  tracker: string | undefined
  addrs: string[]
  capacity: number
  stored: number
  free: number
  pieces: number
  bytesIn: number
  bytesOut: number
  requests: Record<string, number>
  failures: number
  audits: { answered: number; refused: number; leaves: number }
  heartbeats: { sent: number; failed: number; last: number | null }
  reputation: ReputationView | { error: string } | null
  earnings: EarningsView | null
  history: readonly HistoryPoint[]
}

/** Reads the tracker's view of this node, at most once a minute. */
export class ReputationCache {
  readonly #url: string | undefined
  #value: { at: number; view: ReputationView | { error: string } } | undefined

  constructor(trackerUrl: string | undefined, peerId: string) {
    this.#url = trackerUrl === undefined ? undefined : new URL(`/v1/nodes/${peerId}/reputation`, trackerUrl).toString()
  }

  async get(now: number): Promise<ReputationView | { error: string } | null> {
    if (this.#url === undefined) return null
    if (this.#value !== undefined && now - this.#value.at < 60_000) return this.#value.view
    let view: ReputationView | { error: string }
    try {
      const response = await fetch(this.#url, { signal: AbortSignal.timeout(5_000) })
      const body = (await response.json()) as ReputationView & { error?: { message?: string } }
      view = response.ok ? body : { error: body.error?.message ?? `HTTP ${response.status}` }
    } catch (err) {
      view = { error: `tracker unreachable: ${describeError(err)}` }
    }
    this.#value = { at: now, view }
    return view
  }
}

export async function nodeStatus(
  node: ShoalNode,
  extra: {
    startedAt: number
    trackerUrl: string | undefined
    history: readonly HistoryPoint[]
    reputation: ReputationCache
    earnings?: () => Promise<EarningsView | null>
  }
): Promise<NodeStatusView> {
  const s = node.stats
  return {
    version: NODE_VERSION,
    peerId: node.peerId.toString(),
    status: node.status,
    startedAt: extra.startedAt,
    tracker: extra.trackerUrl,
    addrs: node.multiaddrs.map(String),
    capacity: s.store.capacity,
    stored: s.store.used,
    free: Math.max(0, s.store.capacity - s.store.used - s.store.reserved),
    pieces: s.store.pieces,
    bytesIn: s.requests.bytesIn,
    bytesOut: s.requests.bytesOut,
    requests: { ...s.requests.requests },
    failures: s.requests.failures,
    audits: { answered: s.audits.answered, refused: s.audits.refused, leaves: s.audits.leaves },
    heartbeats: {
      sent: s.tracker?.heartbeats ?? 0,
      failed: s.tracker?.failures ?? 0,
      last: s.tracker?.lastHeartbeatAt ?? null
    },
    reputation: await extra.reputation.get(Date.now()),
    earnings: (await extra.earnings?.()) ?? null,
    history: extra.history
  }
}

export function nodeMetrics(node: ShoalNode): MetricFamily[] {
  const s = node.stats
  const gauge = (name: string, help: string, value: number) => singleMetric('gauge', name, help, value)
  const counter = (name: string, help: string, value: number) => singleMetric('counter', name, help, value)
  const byResult = (name: string, help: string, results: Record<string, number>): MetricFamily => ({
    name,
    help,
    type: 'counter',
    samples: Object.entries(results).map(([result, value]) => ({ labels: { result }, value }))
  })
  return [
    gauge('shoal_node_capacity_bytes', 'Bytes of pieces this node may store', s.store.capacity),
    gauge('shoal_node_stored_bytes', 'Bytes of pieces stored', s.store.used),
    gauge('shoal_node_pieces', 'Pieces stored', s.store.pieces),
    counter('shoal_node_ingress_bytes_total', 'Piece bytes received (puts)', s.requests.bytesIn),
    counter('shoal_node_egress_bytes_total', 'Piece bytes sent (gets)', s.requests.bytesOut),
    {
      name: 'shoal_node_requests_total',
      help: 'Piece requests served, by operation',
      type: 'counter',
      samples: Object.entries(s.requests.requests).map(([op, value]) => ({ labels: { op }, value }))
    },
    counter('shoal_node_request_failures_total', 'Piece requests refused or failed', s.requests.failures),
    gauge('shoal_node_requests_active', 'Piece requests in flight', s.requests.active),
    byResult('shoal_node_audits_total', 'Audits by result: answered with proofs, or refused', {
      answered: s.audits.answered,
      refused: s.audits.refused
    }),
    byResult('shoal_node_repair_orders_total', 'Repair orders from the tracker by result: carried out, or refused', {
      carried_out: s.repairs.orders,
      refused: s.repairs.refused
    }),
    counter('shoal_node_pieces_rebuilt_total', 'Pieces rebuilt and stored on repair orders', s.repairs.rebuilt),
    counter('shoal_node_heartbeats_total', 'Heartbeats accepted by the tracker', s.tracker?.heartbeats ?? 0),
    counter('shoal_node_heartbeat_failures_total', 'Heartbeats that failed', s.tracker?.failures ?? 0),
    gauge('shoal_node_connections', 'Open libp2p connections', s.connections)
  ]
}
