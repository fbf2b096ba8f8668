import { rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { describeError, formatMetrics, PROMETHEUS_CONTENT_TYPE } from '@shoal/core'
import type { Logger } from 'pino'
import type { ShoalNode } from '../shoal-node.ts'
import { DASHBOARD_HTML } from './dashboard-html.ts'
import { TrafficHistory } from './history.ts'
import { type EarningsView, nodeMetrics, nodeStatus, ReputationCache } from './status.ts'

/** Where a running node's dashboard listens: `shoal-node status --data DIR` reads it. */
export const DASHBOARD_URL_FILE = 'dashboard.url'

export interface OperatorServerInit {
  node: ShoalNode
  trackerUrl: string | undefined
  /** host:port to listen on; loopback only. Default 127.0.0.1:0 (a free port). */
  listen?: string
  /** How often traffic is sampled for the charts; default 60 s. */
  sampleIntervalMs?: number
  logger: Logger
  /** Earnings from payout statements (issue 5); the dashboard says "not available" without them. */
  earnings?: () => Promise<EarningsView | null>
}

/**
 * The operator's HTTP side, on loopback only: the dashboard page (`/`), its data (`/status.json`) and Prometheus
 * metrics (`/metrics`). Started after the node, stopped before it.
 */
export class OperatorServer {
  readonly #init: OperatorServerInit
  readonly #history: TrafficHistory
  readonly #reputation: ReputationCache
  readonly #startedAt = Date.now()
  #server: Server | undefined
  #timer: ReturnType<typeof setInterval> | undefined
  #url: string | undefined

  constructor(init: OperatorServerInit) {
    this.#init = init
    this.#history = new TrafficHistory(init.node.dataDir)
    this.#reputation = new ReputationCache(init.trackerUrl, init.node.peerId.toString())
  }

  get url(): string | undefined {
    return this.#url
  }

  async start(): Promise<string> {
    const { host, port } = parseListen(this.#init.listen ?? '127.0.0.1:0')
    await this.#history.load()
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
    await rm(join(this.#init.node.dataDir, DASHBOARD_URL_FILE), { force: true })
  }

  async #handle(url: string, method: string): Promise<{ status: number; type: string; body: string }> {
    const path = url.split('?')[0]
    if (method !== 'GET') return { status: 405, type: 'text/plain', body: 'only GET\n' }
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
    if (path === '/metrics') {
      return { status: 200, type: PROMETHEUS_CONTENT_TYPE, body: formatMetrics(nodeMetrics(this.#init.node)) }
    }
    return { status: 404, type: 'text/plain', body: 'not found\n' }
  }
}

/** "127.0.0.1:8080", ":8080" or "8080"; anything but a loopback host is refused: the page has no login. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(text.trim())
  const host = match?.[1] === undefined || match[1] === '' ? '127.0.0.1' : match[1].replace(/^\[|\]$/g, '')
  const port = Number(match?.[2])
  if (match === null || port > 65_535) throw new TypeError(`"${text}" is not host:port`)
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new TypeError(`the dashboard listens on loopback only, not ${host}`)
  }
  return { host, port }
}
