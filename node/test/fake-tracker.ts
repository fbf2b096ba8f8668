import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  type DeleteOrder,
  type HeartbeatPayload,
  type HeartbeatResponse,
  type InfoResponse,
  type NodeAddress,
  openToken,
  peekToken
} from '@shoal/core'
import { encodePublicKey } from '../src/index.ts'
import type { Defer } from './helpers.ts'

/**
 * A stand-in for the tracker's two node-facing endpoints, over real HTTP: `GET /v1/info` and
 * `POST /v1/nodes/heartbeat` (signature checked against the key in the node's peer id). The real tracker is
 * another workspace; the node must only speak the wire format in @shoal/core.
 */
export class FakeTracker {
  readonly key: PrivateKey
  readonly heartbeats: HeartbeatPayload[] = []
  intervalMs = 200
  peers: NodeAddress[] = []
  /** Handed out with every heartbeat answer until cleared. */
  deletes: DeleteOrder[] = []
  /** Answer 503 to everything. */
  down = false
  /** What POST /v1/nodes/retain answers (a retain list, signed or not); 404 while unset. */
  retain: Record<string, unknown> | undefined
  #server: Server | undefined
  #port: number

  constructor(key: PrivateKey, port = 0) {
    this.key = key
    this.#port = port
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`
  }

  async listen(defer: Defer): Promise<this> {
    const server = createServer((req, res) => {
      this.#handle(req)
        .then(([status, body]) => {
          res.writeHead(status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(body))
        })
        .catch((err: Error) => {
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { code: 'ERR_INVALID_INPUT', message: err.message } }))
        })
    })
    await new Promise<void>((resolve) => server.listen(this.#port, '127.0.0.1', resolve))
    this.#port = (server.address() as AddressInfo).port
    this.#server = server
    defer(() => this.close())
    return this
  }

  async close(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async #handle(req: IncomingMessage): Promise<[number, unknown]> {
    if (this.down) return [503, { error: { code: 'ERR_INTERNAL', message: 'down for the test' } }]
    if (req.method === 'GET' && req.url === '/v1/info') {
      const info: InfoResponse = {
        version: 'fake',
        publicKey: encodePublicKey(this.key.publicKey),
        kdf: { N: 1024, r: 8, p: 1 } as InfoResponse['kdf'],
        policy: { k: 4, m: 2, segmentSize: 8 * 1024 * 1024 },
        nodesOnline: 0
      }
      return [200, info]
    }
    if (req.method === 'POST' && req.url === '/v1/nodes/heartbeat') {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const { token } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { token: string }
      const claimed = peekToken(token) as { node: string }
      const nodeKey = peerIdFromString(claimed.node).publicKey
      if (nodeKey === undefined) throw new Error('peer id without key')
      const payload = (await openToken(token, nodeKey, 'ERR_UNAUTHORIZED', 'heartbeat')) as HeartbeatPayload
      this.heartbeats.push(payload)
      const answer: HeartbeatResponse = {
        trackerKey: encodePublicKey(this.key.publicKey),
        intervalMs: this.intervalMs,
        peers: this.peers,
        deletes: this.deletes
      }
      return [200, answer]
    }
    if (req.method === 'POST' && req.url === '/v1/nodes/retain' && this.retain !== undefined) {
      for await (const _ of req) {
        // The node's signed request is not checked here: the test is about what the node does with the answer.
      }
      return [200, this.retain]
    }
    return [404, { error: { code: 'ERR_NOT_FOUND', message: `${req.method} ${req.url}` } }]
  }
}
