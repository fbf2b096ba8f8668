import { createHash, timingSafeEqual } from 'node:crypto'
import { ErrorCode, ShoalError } from '@shoal/core'
import type { Moderation } from '../moderation.ts'
import { parseId } from '../validate.ts'
import { scoped } from './route-scope.ts'
import type { HttpServer } from './server.ts'

/** The shortest admin token accepted: it is the whole credential, so it must be a secret nobody can guess. */
export const MIN_ADMIN_TOKEN_LENGTH = 32

export interface AdminRoutesComponents {
  moderation: Moderation
  /**
   * The operator's bearer token (docs/deploy.md); without one the admin API is not there at all (404, as any
   * unknown route). It is not an account: users' sessions and API keys never reach these routes.
   */
  adminToken: string | undefined
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * The operator's HTTP API under /v1/admin/ (takedowns, suspensions, reports, the moderation log), and the public
 * report route a share page uses. The CLI (`shoal-tracker admin ...`, admin-cli.ts) calls the same routes.
 */
export function registerAdminRoutes(app: HttpServer, c: AdminRoutesComponents): void {
  type IdParams = { Params: { id: string } }
  app.post<IdParams>('/v1/shares/:id/report', scoped('public'), (request) =>
    c.moderation.report(parseId(request.params.id), request.body, request.ip)
  )

  const token = c.adminToken
  if (token === undefined) return
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new TypeError(`the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`)
  }
  const expected = sha256(token)
  // Hashes compared in constant time: the comparison says nothing about how much of a guess was right.
  const admin = (header: string | undefined): string => {
    const given = /^Bearer (.+)$/.exec(header ?? '')?.[1]
    if (given === undefined || !timingSafeEqual(sha256(given), expected)) {
      throw new ShoalError(ErrorCode.UNAUTHORIZED, 'the admin API needs the operator’s token (Authorization: Bearer)')
    }
    return 'admin'
  }
  // Not an account's credential: the token is checked here, by `admin`.
  const operator = scoped('operator')
  const reason = (body: unknown): unknown => (body as { reason?: unknown } | undefined)?.reason
  const limit = (query: unknown): number => Number((query as { limit?: string } | undefined)?.limit ?? 100)

  app.post<IdParams>('/v1/admin/shares/:id/takedown', operator, async (request) =>
    c.moderation.takedown(parseId(request.params.id), reason(request.body), admin(request.headers.authorization))
  )
  app.post<IdParams>('/v1/admin/shares/:id/restore', operator, async (request) =>
    c.moderation.restore(parseId(request.params.id), reason(request.body), admin(request.headers.authorization))
  )
  app.post<IdParams>('/v1/admin/accounts/:id/suspend', operator, async (request) =>
    c.moderation.suspend(parseId(request.params.id), reason(request.body), admin(request.headers.authorization))
  )
  app.post<IdParams>('/v1/admin/accounts/:id/unsuspend', operator, async (request) =>
    c.moderation.unsuspend(parseId(request.params.id), reason(request.body), admin(request.headers.authorization))
  )
  app.get('/v1/admin/reports', operator, async (request) => {
    admin(request.headers.authorization)
    return { reports: await c.moderation.reports(limit(request.query)) }
  })
  app.get('/v1/admin/log', operator, async (request) => {
    admin(request.headers.authorization)
    return { actions: await c.moderation.log(limit(request.query)) }
  })
}
