import { type BloomFilterJson, ErrorCode, type MetricFamily, openNodeToken, ShoalError } from '@shoal/core'
import { scrape } from '@shoal/core/metrics'
import type { Clock } from '../config.ts'
import { HEARTBEAT_MAX_SKEW_MS } from '../constants.ts'
import type { GrantSigner } from '../grants.ts'
import { scoped } from '../http/route-scope.ts'
import type { HttpServer } from '../http/server.ts'
import type { TrackerMetrics } from '../metrics.ts'
import type { NodeRegistry } from '../node-registry.ts'
import type { Maintenance } from './maintenance.ts'
import { auditScore, uptimeScore } from './reputation.ts'
import type { Reputations } from './reputations.ts'

/** What a node operator (dashboard, `shoal-node status`) can read about a node's standing. */
export interface NodeReputationView {
  peerId: string
  auditScore: number
  uptimeScore: number
  audits: { passed: number; failed: number; timedOut: number }
  vetted: boolean
  disqualified?: { at: number; reason: string }
  firstSeen: number
  /** Leaving on purpose since then (graceful exit). */
  exiting?: { since: number }
  /** An audit of this piece timed out: it is asked for again until it answers or the retries run out. */
  pending?: { piece: string; attempts: number; since: number }
}

/**
 * Payload of the token a node signs to leave the network on purpose (POST /v1/nodes/exit { token }) or to ask
 * for its retain list (POST /v1/nodes/retain { token }).
 */
export interface ExitPayload {
  v: 1
  kind: 'exit' | 'retain'
  node: string
  at: number
}

export interface RetainResponse {
  node: string
  /** Tracker time the filter was made: pieces stored after it are not judged by it. */
  createdAt: number
  /** Pieces the filter holds. */
  pieces: number
  /** Every piece the node should hold (and about 1% of the others: they are kept a little longer). */
  filter: BloomFilterJson
  /** The tracker's signature over node, createdAt and filter (wire/retain-list.ts). */
  signature: string
}

export interface ExitStatus {
  node: string
  since: number
  /** Pieces of committed objects still on the node: the exit is done at 0, and the node may stop. */
  remaining: number
}

/** `/metrics` (Prometheus, through prom-client: metrics.ts) and `GET /v1/nodes/:peerId/reputation`. */
export function registerOpsRoutes(
  app: HttpServer,
  c: {
    maintenance: Maintenance
    reputations: Reputations
    registry: NodeRegistry
    clock: Clock
    signer: GrantSigner
    metrics: TrackerMetrics
  }
): void {
  // Metrics, node-signed requests and a node's standing: nothing here reads an account.
  const pub = scoped('public')
  app.get('/metrics', pub, async (_request, reply) => {
    const nodes = await c.registry.list()
    const families: MetricFamily[] = [
      {
        name: 'shoal_nodes',
        help: 'Storage nodes known to the tracker',
        type: 'gauge',
        samples: [
          { labels: { state: 'online' }, value: nodes.filter((n) => n.online).length },
          { labels: { state: 'offline' }, value: nodes.filter((n) => !n.online).length }
        ]
      },
      {
        name: 'shoal_node_stored_bytes',
        help: 'Bytes stored, as nodes report them',
        type: 'gauge',
        samples: [{ value: nodes.reduce((sum, n) => sum + n.used, 0) }]
      },
      ...c.maintenance.metrics()
    ]
    const { contentType, body } = await scrape(c.metrics.registry, c.metrics.shoal, families)
    return reply.header('content-type', contentType).send(body)
  })

  // Graceful exit: the node stops getting pieces and the repairer moves every piece it holds to other nodes
  // (reading them from the node while it still serves). Asking again reports progress.
  app.post('/v1/nodes/exit', pub, async (request) => {
    const token = (request.body as { token?: unknown } | undefined)?.token
    const exit = await openNodeRequest(token, 'exit', c.clock.now())
    const rep = await c.reputations.update(exit.node, (r) =>
      r.exiting === undefined ? { ...r, exiting: { since: exit.at } } : r
    )
    const status: ExitStatus = {
      node: exit.node,
      since: rep.exiting?.since ?? exit.at,
      remaining: await c.maintenance.repairer.remainingOnExit(exit.node)
    }
    return status
  })

  // Retain filter: every piece the node should hold, for it to drop what nobody references (garbage a lost
  // delete order or an interrupted repair left). Signed by the node: the filter is nobody else's business.
  app.post('/v1/nodes/retain', pub, async (request) => {
    const token = (request.body as { token?: unknown } | undefined)?.token
    const signed = await openNodeRequest(token, 'retain', c.clock.now())
    const { createdAt, pieces, filter } = await c.maintenance.retain.forNode(signed.node)
    const json = filter.toJSON()
    const signature = await c.signer.signRetain({ node: signed.node, createdAt, filter: json })
    const response: RetainResponse = { node: signed.node, createdAt, pieces, filter: json, signature }
    return response
  })

  app.get<{ Params: { peerId: string } }>('/v1/nodes/:peerId/reputation', pub, async (request) => {
    await c.reputations.refresh()
    const rep = c.reputations.get(request.params.peerId)
    if (rep === undefined) {
      throw new ShoalError(ErrorCode.NOT_FOUND, `no audits or uptime checks of node ${request.params.peerId} yet`)
    }
    const view: NodeReputationView = {
      peerId: rep.peerId,
      auditScore: auditScore(rep),
      uptimeScore: uptimeScore(rep),
      audits: rep.audits,
      vetted: rep.vettedAt !== undefined,
      firstSeen: rep.firstSeen,
      ...(rep.exiting === undefined ? {} : { exiting: rep.exiting }),
      ...(rep.pending === undefined ? {} : { pending: rep.pending }),
      ...(rep.disqualified === undefined ? {} : { disqualified: rep.disqualified })
    }
    return view
  })
}

/** Checks a node's signed request: signed by the key inside the peer id it names, of `kind`, and fresh. */
async function openNodeRequest(token: unknown, kind: 'exit' | 'retain', now: number): Promise<ExitPayload> {
  const invalid = (message: string) => new ShoalError(ErrorCode.INVALID_INPUT, message, { details: { field: 'token' } })
  if (typeof token !== 'string') throw invalid(`a ${kind} request needs { token }: signed by the node`)
  // The payload names its node, and the signature is that node's: openNodeToken.
  const payload = (await openNodeToken(token, `${kind} token`)).payload as Partial<ExitPayload>
  if (payload?.v !== 1 || payload.kind !== kind || !Number.isSafeInteger(payload.at)) {
    throw invalid(`${kind} token payload is not { v: 1, kind: "${kind}", node, at }`)
  }
  if (Math.abs((payload.at as number) - now) > HEARTBEAT_MAX_SKEW_MS) {
    throw invalid(`${kind} token is not fresh: check the node's clock`)
  }
  return payload as ExitPayload
}
