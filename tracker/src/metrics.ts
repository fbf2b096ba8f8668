import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { ClientPeerInit } from '@shoal/client'
import { EVENT_LOOP_SAMPLE_MS, FamilyMetrics } from '@shoal/core/metrics'
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import type { HttpServer } from './http/server.ts'

/**
 * The tracker's metrics, one prom-client registry for `GET /metrics`: the process's (CPU, memory, event-loop
 * lag), the HTTP API's latency by route and status, the libp2p client peer's connections and streams
 * (`@libp2p/prometheus-metrics`; audits, repair and dial-back use that peer) and Shoal's own families (nodes,
 * audits, repair), written in at scrape time.
 */
export class TrackerMetrics {
  readonly registry = new Registry()
  readonly shoal = new FamilyMetrics(this.registry)
  readonly #requests: Histogram<'method' | 'route' | 'status'>

  constructor() {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
    this.#requests = new Histogram({
      name: 'shoal_tracker_http_request_duration_seconds',
      help: 'HTTP API requests by method, route pattern and status, and how long they took',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry]
    })
  }

  /** For the libp2p client peer; the process's metrics are already collected above. */
  get libp2p(): NonNullable<ClientPeerInit['metrics']> {
    return prometheusMetrics({ registry: this.registry, collectDefaultMetrics: false })
  }

  /** Times every API request; routes by pattern (`/v1/shares/:id`), so ids do not make a label each. */
  instrument(app: HttpServer): void {
    app.addHook('onResponse', (request, reply, done) => {
      this.#requests.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status: String(reply.statusCode)
        },
        reply.elapsedTime / 1000
      )
      done()
    })
  }
}
