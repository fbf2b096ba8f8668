import type { FastifyRequest } from 'fastify'
import type { Need } from '../scopes.ts'

/**
 * What a route declares about its caller (`config: { scope }` in its options): the credential it needs (a
 * scope an API key may carry, or `session`: a password login only), `public` for routes that authenticate no
 * account (health, sign-up and login, share links, node-signed requests), or `operator` for the admin API,
 * which checks the operator's token itself.
 */
export type RouteScope = Need | 'public' | 'operator'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Checked when the route is registered (`requireScopes`): a route without one fails the start-up. */
    scope?: RouteScope
  }
}

const SCOPES: ReadonlySet<unknown> = new Set<RouteScope>(['read', 'write', 'share', 'session', 'public', 'operator'])

/** A route registered without a scope (or with one that is not a `RouteScope`): a programming error. */
export class UndeclaredScopeError extends TypeError {
  readonly method: string
  readonly url: string

  constructor(method: string, url: string) {
    super(`route ${method} ${url} declares no scope: add config: { scope } (http/route-scope.ts)`)
    this.name = 'UndeclaredScopeError'
    this.method = method
    this.url = url
  }
}

export interface DeclaredRoute {
  method: string
  url: string
  scope: RouteScope
}

const declared = new WeakMap<object, DeclaredRoute[]>()

/** The part of a Fastify instance `requireScopes` uses (whatever its server and logger types). */
interface ScopedServer {
  addHook(
    name: 'onRoute',
    hook: (route: { method: string | string[]; url: string; config?: { scope?: unknown } }) => void
  ): unknown
}

/**
 * Makes every route registered on `app` from now on declare its scope, or throw `UndeclaredScopeError` from the
 * registration: a route added later cannot silently get a default, too wide or too narrow. Call before the
 * first route.
 */
export function requireScopes(app: ScopedServer): void {
  const routes: DeclaredRoute[] = []
  declared.set(app, routes)
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (!SCOPES.has(scope)) throw new UndeclaredScopeError(methods.join(','), route.url)
    for (const method of methods) routes.push({ method, url: route.url, scope: scope as RouteScope })
  })
}

/** Every route registered on `app` since `requireScopes`, with its scope, in registration order. */
export function declaredRoutes(app: object): readonly DeclaredRoute[] {
  return declared.get(app) ?? []
}

/**
 * The credential a request needs: its route's declaration, read from the route the router matched (after it
 * decoded the URL, so `/v1/%73hares` is checked as `/v1/shares`: issue 12). A request with no route (a 404), or
 * on a route that authenticates no account, needs a session if anything asks: never more than was declared.
 */
export function needOf(request: FastifyRequest): Need {
  const scope = request.routeOptions.config.scope
  return scope === undefined || scope === 'public' || scope === 'operator' ? 'session' : scope
}

/** Route options declaring `scope`: `app.get(url, scoped('read'), handler)`. */
export function scoped(scope: RouteScope): { config: { scope: RouteScope } } {
  return { config: { scope } }
}
