import type { AddressInfo } from 'node:net'
import { ErrorCode, ShoalError } from '@shoal/core'
import type { Startable } from '../lifecycle.ts'
import type { HttpServer } from './server.ts'

/** The HTTP API as a startable part: start() listens, stop() stops taking requests and waits for those in flight. */
export class HttpListener implements Startable {
  readonly app: HttpServer
  readonly #host: string
  readonly #port: number
  readonly #scheme: 'http' | 'https'
  #url: string | undefined

  constructor(app: HttpServer, host: string, port: number, scheme: 'http' | 'https' = 'http') {
    this.app = app
    this.#host = host
    this.#port = port
    this.#scheme = scheme
  }

  /** Base URL once listening, e.g. http://127.0.0.1:7070. */
  get url(): string {
    if (this.#url === undefined) throw new ShoalError(ErrorCode.INTERNAL, 'the HTTP API is not listening')
    return this.#url
  }

  async start(): Promise<void> {
    if (this.#url !== undefined) return
    await this.app.listen({ host: this.#host, port: this.#port })
    const address = this.app.server.address() as AddressInfo
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    this.#url = `${this.#scheme}://${host}:${address.port}`
  }

  async stop(): Promise<void> {
    if (this.#url === undefined) return
    this.#url = undefined
    await this.app.close()
  }
}
