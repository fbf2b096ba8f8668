import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { declaredRoutes, UndeclaredScopeError } from '../src/http/route-scope.ts'
import { createHttpServer, type HttpComponents } from '../src/http/server.ts'
import { startTracker } from './helpers.ts'

/**
 * The spec: every route the tracker serves and the credential it declares. A route with a scope takes a
 * password session or an API key carrying that scope (`session`: a password session only); `public` routes
 * authenticate no account (some check a proof of their own: a node's signature, a share password); `operator`
 * routes take the admin token. Fastify adds a HEAD route beside each GET, with the GET's declaration.
 */
const ROUTES = `
  OPTIONS *                                        public
  GET     /healthz                                 public
  GET     /v1/info                                 public
  POST    /v1/accounts                             public
  POST    /v1/accounts/confirm                     public
  POST    /v1/sessions                             public
  DELETE  /v1/sessions/current                     session
  DELETE  /v1/sessions                             session
  GET     /v1/account                              read
  PUT     /v1/account/password                     write
  PUT     /v1/account/recovery                     write
  POST    /v1/recovery                             public
  POST    /v1/recovery/reset                       public
  POST    /v1/nodes/heartbeat                      public
  GET     /v1/nodes                                public
  POST    /v1/uploads                              write
  POST    /v1/uploads/:id/segments/:index/place    write
  POST    /v1/uploads/:id/segments/:index/commit   write
  GET     /v1/uploads                              read
  GET     /v1/uploads/:id                          read
  POST    /v1/uploads/:id/commit                   write
  DELETE  /v1/uploads/:id                          write
  GET     /v1/objects                              read
  GET     /v1/objects/by-name/:nameHash            read
  POST    /v1/objects/by-name/:nameHash/grants     read
  POST    /v1/objects/:id/grants                   read
  DELETE  /v1/objects/:id                          write
  GET     /v1/objects/:id/versions                 read
  POST    /v1/objects/:id/restore                  write
  GET     /v1/account/versions                     read
  PUT     /v1/account/versions                     write
  PATCH   /v1/objects/:id                          write
  POST    /v1/shares                               share
  GET     /v1/shares                               share
  DELETE  /v1/shares/:id                           share
  PATCH   /v1/shares/:id                           share
  GET     /v1/shares/:id                           public
  POST    /v1/shares/:id/grants                    public
  POST    /v1/shares/:id/report                    public
  POST    /v1/admin/shares/:id/takedown            operator
  POST    /v1/admin/shares/:id/restore             operator
  POST    /v1/admin/accounts/:id/suspend           operator
  POST    /v1/admin/accounts/:id/unsuspend         operator
  GET     /v1/admin/reports                        operator
  GET     /v1/admin/log                            operator
  GET     /readyz                                  public
  GET     /v1/plans                                public
  PUT     /v1/account/plan                         session
  GET     /v1/account/audit                        read
  GET     /v1/account/usage                        read
  GET     /v1/account/invoices                     read
  GET     /v1/account/invoices/:period             read
  POST    /v1/nodes/settlements                    public
  GET     /v1/nodes/:peerId/earnings               public
  GET     /v1/nodes/:peerId/payouts                public
  GET     /v1/api-keys                             session
  POST    /v1/api-keys                             session
  DELETE  /v1/api-keys/:id                         session
  GET     /metrics                                 public
  POST    /v1/nodes/exit                           public
  POST    /v1/nodes/retain                         public
  GET     /v1/nodes/:peerId/reputation             public
`

function table(): string[] {
  const rows: string[] = []
  for (const line of ROUTES.trim().split('\n')) {
    const [method, url, scope] = line.trim().split(/\s+/)
    rows.push(`${method} ${url} ${scope}`)
    if (method === 'GET') rows.push(`HEAD ${url} ${scope}`)
  }
  return rows.sort()
}

/** A server with nothing behind its routes: registering them is all these tests do. */
function bareServer() {
  return createHttpServer({ logger: pino({ level: 'silent' }) } as HttpComponents)
}

describe('route scopes', () => {
  it('every route the tracker registers declares the scope in the table', async () => {
    // The admin token makes the admin routes exist.
    const t = await startTracker({ adminToken: 'a'.repeat(40) })
    const registered = declaredRoutes(t.tracker.components.http.app).map((r) => `${r.method} ${r.url} ${r.scope}`)
    expect(registered.sort()).toEqual(table())
  })

  it('a route registered without a scope, or with an unknown one, fails the server at start-up', () => {
    const app = bareServer()
    const handler = async () => ({ ok: true })
    const error = (() => {
      try {
        app.get('/v1/new', handler)
      } catch (err) {
        return err
      }
    })()
    expect(error).toBeInstanceOf(UndeclaredScopeError)
    expect(error).toMatchObject({ method: 'GET', url: '/v1/new' })
    expect(() => app.post('/v1/other', { config: {} }, handler)).toThrow(UndeclaredScopeError)
    // A scope that is no credential (a typo, a cast) is not a declaration either.
    const config = { scope: 'admin' } as unknown as { scope: 'read' }
    expect(() => app.put('/v1/third', { config }, handler)).toThrow(/PUT \/v1\/third declares no scope/)
    expect(declaredRoutes(app).some((r) => r.url.startsWith('/v1/new') || r.url === '/v1/other')).toBe(false)
  })
})
