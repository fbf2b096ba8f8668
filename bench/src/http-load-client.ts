import { connect, type Socket } from 'node:net'

/**
 * A lean HTTP/1.1 keep-alive client for load generation: one socket, one request in flight, JSON bodies with a
 * Content-Length. The load generator shares the machine's two cores with the trackers and PostgreSQL it
 * measures; `fetch` costs it about as much CPU per request as the tracker spends answering, which would
 * measure the generator rather than the tracker. This costs a few tens of microseconds.
 */
export class HttpLoadClient {
  readonly #host: string
  readonly #port: number
  #socket: Socket | undefined
  #buffer: Buffer = Buffer.alloc(0)
  #waiting: { resolve: (r: { status: number; body: Buffer }) => void; reject: (e: Error) => void } | undefined

  constructor(url: string) {
    const u = new URL(url)
    if (u.protocol !== 'http:') throw new Error(`HttpLoadClient speaks plain http, not ${u.protocol}`)
    this.#host = u.hostname
    this.#port = Number(u.port)
  }

  post<T>(path: string, body: unknown, token?: string): Promise<{ status: number; body: T }> {
    return this.request('POST', path, body, token)
  }

  get<T>(path: string, token?: string): Promise<{ status: number; body: T }> {
    return this.request('GET', path, undefined, token)
  }

  async request<T>(method: string, path: string, body: unknown, token?: string): Promise<{ status: number; body: T }> {
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body))
    const head =
      `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}:${this.#port}\r\ncontent-type: application/json\r\n` +
      `content-length: ${payload.byteLength}\r\n${token === undefined ? '' : `authorization: Bearer ${token}\r\n`}\r\n`
    const socket = await this.#connected()
    const answer = new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      this.#waiting = { resolve, reject }
    })
    socket.write(Buffer.concat([Buffer.from(head), payload]))
    const r = await answer
    return { status: r.status, body: JSON.parse(r.body.toString()) as T }
  }

  close(): void {
    this.#socket?.destroy()
    this.#socket = undefined
  }

  async #connected(): Promise<Socket> {
    if (this.#socket !== undefined && !this.#socket.destroyed) return this.#socket
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    const fail = (err: Error) => {
      const waiting = this.#waiting
      this.#waiting = undefined
      waiting?.reject(err)
    }
    socket.on('error', fail)
    socket.on('close', () => fail(new Error('the server closed the connection')))
    this.#socket = socket
    this.#buffer = Buffer.alloc(0)
    return socket
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.byteLength === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    const end = this.#buffer.indexOf('\r\n\r\n')
    if (end < 0) return
    const head = this.#buffer.subarray(0, end).toString('latin1')
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)
    if (length === null) {
      this.#waiting?.reject(new Error(`a response without content-length: ${head.split('\r\n')[0]}`))
      this.#waiting = undefined
      return
    }
    const total = end + 4 + Number(length[1])
    if (this.#buffer.byteLength < total) return
    const status = Number(head.slice(9, 12))
    const body = this.#buffer.subarray(end + 4, total)
    this.#buffer = this.#buffer.subarray(total)
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.resolve({ status, body })
  }
}
