/** A metric family in Prometheus terms; node and tracker build them from their stats at scrape time. */
export interface MetricFamily {
  name: string
  help: string
  type: 'counter' | 'gauge'
  samples: { labels?: Record<string, string>; value: number }[]
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')

/** Prometheus text exposition format 0.0.4 (what `GET /metrics` answers with). */
export function formatMetrics(families: readonly MetricFamily[]): string {
  const lines: string[] = []
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`)
    for (const s of f.samples) {
      const labels =
        s.labels === undefined
          ? ''
          : `{${Object.entries(s.labels)
              .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
              .join(',')}}`
      lines.push(`${f.name}${labels} ${Number.isFinite(s.value) ? s.value : 0}`)
    }
  }
  return `${lines.join('\n')}\n`
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** A family with one unlabelled sample. */
export function singleMetric(type: MetricFamily['type'], name: string, help: string, value: number): MetricFamily {
  return { name, help, type, samples: [{ value }] }
}
