import type { Scope } from './store/store.ts'

/**
 * What a request needs of its credential: a scope an API key may carry, or a password session. Each route
 * declares its own (http/route-scope.ts).
 */
export type Need = Scope | 'session'
