import { randomUUID } from 'node:crypto'
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttps, type Server as HttpsServer } from 'node:https'
import type { TlsPair } from '@shoal/core/tls'

/** What sits between the tracker and the internet: its own TLS, or a reverse proxy that it trusts. */
export interface HttpEdgeInit {
  /**
   * Addresses or CIDRs of reverse proxies whose `X-Forwarded-For` names the real client (e.g. `127.0.0.1`,
   * `10.0.0.0/8`, or `loopback`): node subnets (placement diversity) and rate limits see the client, not the
   * proxy. Empty (default): the address of the connection, and forwarded headers are ignored, so no client
   * can pick its own address.
   */
  trustProxy?: string[]
  /** Certificate and key for HTTPS; the watcher in tracker.ts reloads them when the files change. */
  tls?: TlsPair
}

/** A request id from the proxy (`X-Request-Id`) is kept if it looks like one; anything else gets a new one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/

/** Fastify options for the edge: trusted proxies, request ids (`reqId` in every log line), HTTP or HTTPS. */
export function edgeOptions(edge: HttpEdgeInit) {
  const tls = edge.tls
  return {
    ...(edge.trustProxy === undefined || edge.trustProxy.length === 0 ? {} : { trustProxy: edge.trustProxy }),
    requestIdHeader: false as const,
    genReqId: (request: IncomingMessage): string => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // Fastify is typed for a plain HTTP server; an HTTPS one serves the same handler, and setSecureContext
    // (reload) needs it as itself, so the factory makes it here.
    serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void): Server => {
      const server = tls === undefined ? createHttp(handler) : (createHttps(tls, handler) as unknown as Server)
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
      return server
    }
  }
}

/**
 * How long an idle client connection stays open. Node's 5 s is shorter than a node's heartbeat interval, so every
 * heartbeat opened (and the node then closed) a TCP connection: a connect, an accept, a close and a TIME_WAIT
 * socket per beat (16 idle nodes kept ~100 in TIME_WAIT). 75 s (nginx's default) outlives the heartbeat; clients
 * learn it from the `Keep-Alive: timeout=` header.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 75_000

/** Serves a renewed certificate to new connections; open ones keep theirs. */
export function renewCertificate(server: Server, pair: TlsPair): void {
  ;(server as unknown as HttpsServer).setSecureContext(pair)
}
