import type { FastifyRequest } from 'fastify'

/**
 * The one normalisation of a request's path that every limit and scope check uses: the route the router
 * matched (e.g. `/v1/shares/:id`), after it decoded the URL. Reading `request.url` instead let `/v1/%73essions`
 * pass the login limit and `/v1/%73hares` pass a scope check while the router served `/v1/sessions` and
 * `/v1/shares` (issue 12). Undefined when no route matched (the request ends in a 404).
 */
export function routeOf(request: FastifyRequest): string | undefined {
  return request.routeOptions.url
}
