import { Counter, Gauge, Registry } from 'prom-client'
import type { MetricFamily } from './prometheus.ts'

/**
 * Shoal's own metrics in a prom-client registry, beside libp2p's (`@libp2p/prometheus-metrics`) and the
 * process's (`collectDefaultMetrics`). Node and tracker keep their counters where the work happens (service
 * stats, the store) and describe them as `MetricFamily` lists at scrape time; this writes each list into
 * prom-client gauges and counters, so one registry renders everything in the exposition format. Node-only
 * (`@shoal/core/metrics`): the browser bundle never loads prom-client.
 *
 * @example
 * ```ts
 * const registry = new Registry()
 * const shoal = new FamilyMetrics(registry)
 * shoal.set([{ name: 'shoal_node_pieces', help: 'Pieces stored', type: 'gauge', samples: [{ value: 3 }] }])
 * const text = await registry.metrics()
 * ```
 */
/**
 * How often the process metrics sample event-loop delay, in ms. prom-client's default, 10 ms, is a timer firing
 * 100 times a second in every node and tracker, busy or idle: it woke an idle storage node 100 times a second,
 * (more than everything else together). At 1 s it was still half of an idle node's wakeups. A lag that matters
 * lasts for seconds under load, and each scrape measures the lag of that moment besides
 * (`nodejs_eventloop_lag_seconds`), so a sample every 10 s still shows it on a dashboard.
 */
export const EVENT_LOOP_SAMPLE_MS = 10_000

export class FamilyMetrics {
  readonly #registry: Registry
  readonly #metrics = new Map<string, { metric: Counter | Gauge; labels: string }>()

  constructor(registry: Registry) {
    this.#registry = registry
  }

  /** Sets every family to the samples given; a family seen for the first time (or with new labels) is registered. */
  set(families: readonly MetricFamily[]): void {
    for (const family of families) {
      const labelNames = [...new Set(family.samples.flatMap((s) => Object.keys(s.labels ?? {})))].sort()
      const metric = this.#metricFor(family, labelNames)
      metric.reset()
      for (const sample of family.samples) {
        // Prometheus has no use for NaN or infinities from a division by zero; counters only go up.
        const value = Number.isFinite(sample.value) ? sample.value : 0
        const labels = sample.labels ?? {}
        if (metric instanceof Counter) metric.inc(labels, Math.max(0, value))
        else metric.set(labels, value)
      }
    }
  }

  #metricFor(family: MetricFamily, labelNames: string[]): Counter | Gauge {
    const key = labelNames.join(',')
    const known = this.#metrics.get(family.name)
    if (known !== undefined && known.labels === key) return known.metric
    // prom-client fixes a metric's label names when it is made: a family that gained a label is made again.
    if (known !== undefined) this.#registry.removeSingleMetric(family.name)
    const config = { name: family.name, help: family.help, labelNames, registers: [this.#registry] }
    const metric = family.type === 'counter' ? new Counter(config) : new Gauge(config)
    this.#metrics.set(family.name, { metric, labels: key })
    return metric
  }
}

/** What `GET /metrics` answers: the registry in Prometheus's text format, with Shoal's families updated first. */
export async function scrape(
  registry: Registry,
  shoal: FamilyMetrics,
  families: readonly MetricFamily[]
): Promise<{ contentType: string; body: string }> {
  shoal.set(families)
  return { contentType: registry.contentType, body: await registry.metrics() }
}

export { Registry }
