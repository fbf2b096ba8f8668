import { describeError } from '@shoal/core'
import { scoped } from './route-scope.ts'
import type { HttpServer } from './server.ts'

/** How long the readiness probe waits for the store. */
const READY_TIMEOUT_MS = 2_000

/**
 * `/readyz`: this tracker can answer the API, which needs its store (LevelDB, or PostgreSQL whose connection a
 * load balancer should see fail). `/healthz` (server.ts) only says the process answers. A tracker that is not
 * ready answers 503 with the reason.
 */
export function registerHealthRoutes(app: HttpServer, c: { ping(): Promise<unknown> }): void {
  app.get('/readyz', scoped('public'), async (_request, reply) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        c.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS)
        })
      ])
      return { ready: true }
    } catch (err) {
      return reply.code(503).send({ ready: false, reason: `the store does not answer: ${describeError(err)}` })
    } finally {
      clearTimeout(timer)
    }
  })
}
