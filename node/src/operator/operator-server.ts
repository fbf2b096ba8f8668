import { rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { describeError } from '@shoal/core'
import { FamilyMetrics, scrape } from '@shoal/core/metrics'
import type { Logger } from 'pino'
import type { ShoalNode } from '../shoal-node.ts'
import { DASHBOARD_HTML } from './dashboard-html.ts'
import { TrafficHistory } from './history.ts'
import { readiness } from './probes.ts'
import { type EarningsView, nodeMetrics, nodeStatus, ReputationCache } from './status.ts'

/** Where a running node's dashboard listens: `shoal-node status --data DIR` reads it. */
export const DASHBOARD_URL_FILE = 'dashboard.url'

export interface OperatorServerInit {
  node: ShoalNode
  trackerUrl: string | undefined
  /** host:port to listen on; loopback only unless `probesOnly`. Default 127.0.0.1:0 (a free port). */
  listen?: string
  /**
   * Serve only `/metrics`, `/healthz` and `/readyz` (no dashboard, no status), on any address: for Prometheus
   * and supervisors on other hosts (`--metrics`). Such a server writes no dashboard.url.
   */
  probesOnly?: boolean
  /** How often traffic is sampled for the charts; default 60 s. */
  sampleIntervalMs?: number
  logger: Logger
  /** Earnings from payout statements (issue 5); the dashboard says "not available" without them. */
  earnings?: () => Promise<EarningsView | null>
}

/**
 * The operator's HTTP side, on loopback only: the dashboard page (`/`), its data (`/status.json`), Prometheus
 * metrics (`/metrics`, prom-client: Shoal's, libp2p's and the process's) and the probes (`/healthz`: the
 * process answers; `/readyz`: the node serves and the tracker lists it). With `probesOnly`, just the last three,
 * on any address. Started after the node, stopped before it.
 */
export class OperatorServer {
  readonly #init: OperatorServerInit
  readonly #history: TrafficHistory
  readonly #reputation: ReputationCache
  readonly #metrics: FamilyMetrics
  readonly #startedAt = Date.now()
  #server: Server | undefined
  #timer: ReturnType<typeof setInterval> | undefined
  #url: string | undefined

  constructor(init: OperatorServerInit) {
    this.#init = init
    this.#history = new TrafficHistory(init.node.dataDir)
    this.#reputation = new ReputationCache(init.trackerUrl, init.node.peerId.toString())
    this.#metrics = new FamilyMetrics(init.node.metrics)
  }

  get url(): string | undefined {
    return this.#url
  }

  async start(): Promise<string> {
    const probesOnly = this.#init.probesOnly === true
    const { host, port } = parseListen(this.#init.listen ?? '127.0.0.1:0', !probesOnly)
    if (!probesOnly) await this.#history.load()
    const server = createServer((request, response) => {
      this.#handle(request.url ?? '/', request.method ?? 'GET')
        .then(({ status, type, body }) => {
          response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
          response.end(body)
        })
        .catch((err: unknown) => {
          this.#init.logger.warn({ err: describeError(err) }, 'dashboard request failed')
          response.writeHead(500, { 'content-type': 'text/plain' })
          response.end('internal error\n')
        })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    this.#server = server
    const address = server.address() as AddressInfo
    this.#url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/`
    if (probesOnly) return this.#url
    await writeFile(join(this.#init.node.dataDir, DASHBOARD_URL_FILE), `${this.#url}\n`)
    const sample = (): void => {
      const s = this.#init.node.stats
      this.#history
        .sample(Date.now(), {
          bytesIn: s.requests.bytesIn,
          bytesOut: s.requests.bytesOut,
          stored: s.store.used,
          capacity: s.store.capacity
        })
        .catch((err: unknown) => this.#init.logger.warn({ err: describeError(err) }, 'saving traffic history failed'))
    }
    sample()
    this.#timer = setInterval(sample, this.#init.sampleIntervalMs ?? 60_000)
    this.#timer.unref()
    return this.#url
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    if (this.#init.probesOnly === true) return
    await rm(join(this.#init.node.dataDir, DASHBOARD_URL_FILE), { force: true })
  }

  async #handle(url: string, method: string): Promise<{ status: number; type: string; body: string }> {
    const path = url.split('?')[0]
    if (method !== 'GET') return { status: 405, type: 'text/plain', body: 'only GET\n' }
    if (path === '/healthz') return { status: 200, type: 'application/json', body: '{"ok":true}' }
    if (path === '/readyz') {
      const ready = readiness(this.#init.node)
      return { status: ready.ready ? 200 : 503, type: 'application/json', body: JSON.stringify(ready) }
    }
    if (path === '/metrics') {
      const { contentType, body } = await scrape(this.#init.node.metrics, this.#metrics, nodeMetrics(this.#init.node))
      return { status: 200, type: contentType, body }
    }
    if (this.#init.probesOnly === true) return { status: 404, type: 'text/plain', body: 'not found\n' }
    if (path === '/' || path === '/index.html')
      return { status: 200, type: 'text/html; charset=utf-8', body: DASHBOARD_HTML }
    if (path === '/status.json') {
      const status = await nodeStatus(this.#init.node, {
        startedAt: this.#startedAt,
        trackerUrl: this.#init.trackerUrl,
        history: this.#history.points,
        reputation: this.#reputation,
        ...(this.#init.earnings === undefined ? {} : { earnings: this.#init.earnings })
      })
      return { status: 200, type: 'application/json', body: JSON.stringify(status) }
    }
    return { status: 404, type: 'text/plain', body: 'not found\n' }
  }
}

/**
 * "127.0.0.1:8080", ":8080" or "8080"; with `loopbackOnly` (the dashboard, which has no login) anything but a
 * loopback host is refused.
 */
export function parseListen(text: string, loopbackOnly = true): { host: string; port: number } {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(text.trim())
  const host = match?.[1] === undefined || match[1] === '' ? '127.0.0.1' : match[1].replace(/^\[|\]$/g, '')
  const port = Number(match?.[2])
  if (match === null || port > 65_535) throw new TypeError(`"${text}" is not host:port`)
  if (loopbackOnly && !(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new TypeError(`the dashboard listens on loopback only, not ${host}`)
  }
  return { host, port }
}
