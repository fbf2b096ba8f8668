/**
 * A metric family in Prometheus terms; node and tracker build them from their stats at scrape time, and
 * `FamilyMetrics` (`@shoal/core/metrics`) hands them to prom-client.
 */
export interface MetricFamily {
  name: string
  help: string
  type: 'counter' | 'gauge'
  samples: { labels?: Record<string, string>; value: number }[]
}

/** A family with one unlabelled sample. */
export function singleMetric(type: MetricFamily['type'], name: string, help: string, value: number): MetricFamily {
  return { name, help, type, samples: [{ value }] }
}
