import type { Scope } from './store/store.ts'

/** What a request needs of its credential: a scope an API key may carry, or a password session. */
export type Need = Scope | 'session'

/**
 * The scope each route needs, decided from its method and route so that every route has one, including routes
 * added later: reads are `read` (download grants too: they only let the caller read), share routes are
 * `share`, managing keys and plans takes a password session, everything else is `write`. `route` is the route
 * the router matched (`routeOf`, http/route.ts), never the raw URL: `/v1/%73hares` is `/v1/shares` to the
 * router, so it must be to this check too. No route (a 404) needs a session.
 */
export function scopeFor(method: string, route: string | undefined): Need {
  if (route === undefined) return 'session'
  const path = route
  if (path.startsWith('/v1/api-keys') || path === '/v1/account/plan' || path.startsWith('/v1/sessions'))
    return 'session'
  if (path.startsWith('/v1/shares')) return 'share'
  if (method === 'GET' || method === 'HEAD') return 'read'
  if (method === 'POST' && /^\/v1\/objects\/[^/]+\/grants$/.test(path)) return 'read'
  return 'write'
}

/** Scope per request, keyed by its headers object (the one thing every route hands to `auth`). */
const needs = new WeakMap<object, Need>()

export function rememberNeed(headers: object, method: string, route: string | undefined): void {
  needs.set(headers, scopeFor(method, route))
}

/** Unknown requests need a session: a credential is never granted more than the route was checked for. */
export function needOf(headers: object): Need {
  return needs.get(headers) ?? 'session'
}
