import { type ApiErrorBody, ErrorCode, type InfoResponse, isShoalError, ShoalError } from '@shoal/core'
import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify'
import type { Logger } from 'pino'
import type { Accounts } from '../accounts.ts'
import type { Authenticator } from '../auth.ts'
import { MAX_BODY_BYTES } from '../constants.ts'
import type { NodeRegistry } from '../node-registry.ts'
import type { Objects } from '../objects.ts'
import type { Shares } from '../shares.ts'
import type { Uploads } from '../uploads.ts'
import {
  parseBeginUpload,
  parseChangePassword,
  parseConfirmSignup,
  parseHeartbeatRequest,
  parseId,
  parseListQuery,
  parseLogin,
  parseNameHash,
  parseRecovery,
  parseRecoveryReset,
  parseSetRecovery,
  parseSignup,
  parseVersionsQuery
} from '../validate.ts'
import type { Versions } from '../versions.ts'
import { edgeOptions, type HttpEdgeInit } from './edge.ts'
import { needOf, requireScopes, scoped } from './route-scope.ts'

export interface HttpComponents {
  auth: Authenticator
  accounts: Accounts
  registry: NodeRegistry
  uploads: Uploads
  objects: Objects
  versions: Versions
  shares: Shares
  info(): Promise<InfoResponse>
  logger: Logger
}

/** HTTP status for each error code the API returns; anything else is a 500 ERR_INTERNAL. */
const STATUS: Record<string, number> = {
  [ErrorCode.INVALID_INPUT]: 400,
  [ErrorCode.INVALID_CID]: 400,
  [ErrorCode.RECEIPT_INVALID]: 400,
  [ErrorCode.ROOT_MISMATCH]: 400,
  [ErrorCode.NODE_NOT_REACHABLE]: 403,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.WRONG_PASSWORD]: 401,
  [ErrorCode.WRONG_RECOVERY_KEY]: 401,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.OBJECT_NOT_FOUND]: 404,
  [ErrorCode.UPLOAD_NOT_FOUND]: 404,
  [ErrorCode.SHARE_NOT_FOUND]: 404,
  [ErrorCode.SHARE_REVOKED]: 410,
  [ErrorCode.SHARE_EXPIRED]: 410,
  [ErrorCode.SHARE_PASSWORD]: 401,
  // 451 Unavailable For Legal Reasons (RFC 7725): an operator's takedown.
  [ErrorCode.SHARE_REMOVED]: 451,
  [ErrorCode.ACCOUNT_SUSPENDED]: 403,
  [ErrorCode.ACCOUNT_EXISTS]: 409,
  [ErrorCode.VERIFICATION_FAILED]: 401,
  [ErrorCode.RECEIPT_KEY_TAKEN]: 409,
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.UPLOAD_INCOMPLETE]: 409,
  [ErrorCode.QUOTA_EXCEEDED]: 413,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.SETTLEMENT_REJECTED]: 400,
  [ErrorCode.NOT_ENOUGH_NODES]: 503
}

function sendError(reply: FastifyReply, status: number, error: ShoalError): FastifyReply {
  const body: ApiErrorBody = { error: error.toJSON() }
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(body)
}

/** A refused sign-up or login says when to come back (Retry-After); other limits leave it to the error's details. */
function retryAfter(
  _request: unknown,
  reply: { statusCode: number; header(name: string, value: string): unknown },
  payload: unknown,
  done: (err: null, payload: unknown) => void
): void {
  if (reply.statusCode === 429) reply.header('retry-after', '60')
  done(null, payload)
}

/** The v1 API (see `wire/tracker-api.ts` in @shoal/core). Not listening yet: the caller calls `listen`. */
export function createHttpServer(c: HttpComponents, edge: HttpEdgeInit = {}) {
  const app = Fastify({
    ...edgeOptions(edge),
    loggerInstance: c.logger,
    // One log line per request at debug (below): heartbeats alone would drown the info level.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    // Name hashes travel in the path; the default 100-character cap would turn long ones into 404s.
    routerOptions: { maxParamLength: 256 }
  })
  requireScopes(app)

  // Every body is JSON whatever its content type says (curl -d sends form encoding), and an empty body is
  // "no body", so DELETE and bodiless POSTs work from any client. Parse failures are ERR_INVALID_INPUT.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body)
    if (text.trim().length === 0) {
      done(null, undefined)
      return
    }
    try {
      done(null, JSON.parse(text))
    } catch {
      done(new ShoalError(ErrorCode.INVALID_INPUT, 'request body is not valid JSON'), undefined)
    }
  })

  app.setErrorHandler((err, request, reply) => {
    if (isShoalError(err)) {
      const status = STATUS[err.code]
      if (status !== undefined) return sendError(reply, status, err)
    } else {
      // Fastify's own 4xx (body too large, bad content length, ...) are the client's mistake: their
      // messages name no internals.
      const status = (err as { statusCode?: unknown }).statusCode
      if (typeof status === 'number' && status >= 400 && status < 500) {
        const message = err instanceof Error ? err.message : 'bad request'
        const code = (err as { code?: unknown }).code
        return sendError(
          reply,
          400,
          new ShoalError(
            ErrorCode.INVALID_INPUT,
            message,
            typeof code === 'string' ? { details: { reason: code } } : undefined
          )
        )
      }
    }
    request.log.error({ err, method: request.method, url: request.url }, 'request failed')
    return sendError(reply, 500, new ShoalError(ErrorCode.INTERNAL, 'internal error'))
  })

  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      404,
      new ShoalError(ErrorCode.NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}`)
    )
  )

  // Hooks take callbacks, not async functions: they run on every request, and each promise costs.
  app.addHook('onSend', (request, reply, payload, done) => {
    // Answers carry grants and session tokens: no cache may keep them.
    reply.header('cache-control', 'no-store')
    // The id in the tracker's log lines for this request: what a user quotes in a bug report.
    reply.header('x-request-id', request.id)
    // The web UI may be served from another origin. Any origin is safe: the API authenticates with bearer
    // tokens a page must already hold, never with cookies the browser would attach on its own.
    reply.header('access-control-allow-origin', '*')
    reply.header('access-control-expose-headers', 'x-request-id')
    done(null, payload)
  })
  app.options('*', scoped('public'), async (_request, reply) =>
    reply
      .code(204)
      .header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE')
      .header('access-control-allow-headers', 'authorization, content-type')
      .header('access-control-max-age', '600')
      .send()
  )
  if (c.logger.isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug(
        { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
        'request'
      )
      done()
    })
  }

  // The credential each route needs is its own declaration (`scoped`, route-scope.ts), so API keys are checked
  // on every route; one registered without a declaration fails here, at start-up.
  const auth = (request: FastifyRequest) => c.auth.authenticate(request.headers.authorization, needOf(request))
  // Routes that only check who owns what: no account read (a seen session costs no store read at all).
  const authId = (request: FastifyRequest) => c.auth.authenticateId(request.headers.authorization, needOf(request))
  const pub = scoped('public')
  const read = scoped('read')
  const write = scoped('write')
  const share = scoped('share')
  const session = scoped('session')
  // Sign-up and login answer a refusal with when to come back.
  const limited = { ...pub, onSend: retryAfter }

  app.get('/healthz', pub, async () => ({ ok: true }))
  app.get('/v1/info', pub, () => c.info())

  app.post('/v1/accounts', limited, async (request, reply) => {
    const answer = await c.accounts.signup(parseSignup(request.body), request.ip)
    // 202: nothing exists yet, a code is on its way (email verification); the same for every email.
    reply.code('verification' in answer ? 202 : 201)
    return answer
  })
  app.post('/v1/accounts/confirm', limited, async (request, reply) => {
    const session = await c.accounts.confirmSignup(parseConfirmSignup(request.body), request.ip)
    reply.code(201)
    return session
  })
  app.post('/v1/sessions', limited, (request) => c.accounts.login(parseLogin(request.body), request.ip))
  app.delete('/v1/sessions/current', session, (request) => c.accounts.logout(request.headers.authorization, false))
  app.delete('/v1/sessions', session, (request) => c.accounts.logout(request.headers.authorization, true))
  app.get('/v1/account', read, async (request) => c.accounts.view((await auth(request)).id))
  // Password and recovery key (docs/decisions.md, "Account recovery"): the tracker sees only auth keys and wraps.
  app.put('/v1/account/password', write, async (request) =>
    c.accounts.changePassword((await auth(request)).id, parseChangePassword(request.body), request.ip)
  )
  app.put('/v1/account/recovery', write, async (request) =>
    c.accounts.setRecovery((await auth(request)).id, parseSetRecovery(request.body), request.ip)
  )
  app.post('/v1/recovery', pub, (request) => c.accounts.recoveryWrap(parseRecovery(request.body), request.ip))
  app.post('/v1/recovery/reset', pub, (request) =>
    c.accounts.recoveryReset(parseRecoveryReset(request.body), request.ip)
  )

  // Nodes prove who they are with the signed token in the body, not with an account.
  app.post('/v1/nodes/heartbeat', pub, (request) =>
    c.registry.heartbeat(parseHeartbeatRequest(request.body).token, request.ip)
  )
  app.get('/v1/nodes', pub, async () => ({ nodes: await c.registry.list() }))

  type IdParams = { Params: { id: string } }
  type SegmentParams = { Params: { id: string; index: string } }

  app.post('/v1/uploads', write, async (request) =>
    c.uploads.begin(await authId(request), parseBeginUpload(request.body))
  )
  app.post<SegmentParams>('/v1/uploads/:id/segments/:index/place', write, async (request) =>
    c.uploads.place(await authId(request), parseId(request.params.id), request.params.index, request.body)
  )
  app.post<SegmentParams>('/v1/uploads/:id/segments/:index/commit', write, async (request) =>
    c.uploads.commitSegment(await authId(request), parseId(request.params.id), request.params.index, request.body)
  )
  app.get('/v1/uploads', read, async (request) => c.uploads.list(await auth(request)))
  app.get<IdParams>('/v1/uploads/:id', read, async (request) =>
    c.uploads.status(await authId(request), parseId(request.params.id))
  )
  app.post<IdParams>('/v1/uploads/:id/commit', write, async (request) =>
    c.uploads.commit(await authId(request), parseId(request.params.id))
  )
  app.delete<IdParams>('/v1/uploads/:id', write, async (request) => {
    await c.uploads.abort(await authId(request), parseId(request.params.id))
    return { aborted: true }
  })

  app.get('/v1/objects', read, async (request) => c.objects.list(await authId(request), parseListQuery(request.query)))
  app.get<{ Params: { nameHash: string } }>('/v1/objects/by-name/:nameHash', read, async (request) =>
    c.objects.byName(await authId(request), parseNameHash(request.params.nameHash))
  )
  // Download grants only let the caller read.
  app.post<{ Params: { nameHash: string } }>('/v1/objects/by-name/:nameHash/grants', read, async (request) =>
    c.objects.open(await authId(request), parseNameHash(request.params.nameHash), request.body)
  )
  app.post<IdParams>('/v1/objects/:id/grants', read, async (request) =>
    c.objects.grants(await authId(request), parseId(request.params.id), request.body)
  )
  app.delete<IdParams>('/v1/objects/:id', write, async (request) =>
    c.objects.delete(await auth(request), parseId(request.params.id))
  )
  app.get<IdParams>('/v1/objects/:id/versions', read, async (request) =>
    c.versions.list(await auth(request), parseId(request.params.id), parseVersionsQuery(request.query))
  )
  app.post<IdParams>('/v1/objects/:id/restore', write, async (request) =>
    c.versions.restore(await auth(request), parseId(request.params.id), request.body)
  )
  app.get('/v1/account/versions', read, async (request) => c.versions.policy(await auth(request)))
  app.put('/v1/account/versions', write, async (request) => c.versions.setPolicy(await auth(request), request.body))
  app.patch<IdParams>('/v1/objects/:id', write, async (request) =>
    c.objects.rename(await auth(request), parseId(request.params.id), request.body)
  )

  app.post('/v1/shares', share, async (request, reply) => {
    reply.code(201)
    return c.shares.create(await auth(request), request.body)
  })
  app.get('/v1/shares', share, async (request) => c.shares.list(await auth(request)))
  app.delete<IdParams>('/v1/shares/:id', share, async (request) =>
    c.shares.revoke(await auth(request), parseId(request.params.id))
  )
  app.patch<IdParams>('/v1/shares/:id', share, async (request) =>
    c.shares.update(await auth(request), parseId(request.params.id), request.body)
  )
  // Public: a share link works without an account.
  app.get<IdParams>('/v1/shares/:id', pub, async (request) => c.shares.info(parseId(request.params.id)))
  app.post<IdParams>('/v1/shares/:id/grants', pub, async (request) =>
    c.shares.grants(parseId(request.params.id), request.body, request.ip)
  )

  return app
}

export type HttpServer = ReturnType<typeof createHttpServer>
