import { ErrorCode, invoiceCsv, payoutsCsv, ShoalError } from '@shoal/core'
import type { FastifyRequest } from 'fastify'
import type { ApiKeys } from '../api-keys.ts'
import type { Authenticator } from '../auth.ts'
import type { Billing } from '../billing/billing.ts'
import { parsePeriod, periodOf } from '../billing/metering.ts'
import type { PlanService } from '../billing/plan-service.ts'
import type { Settlements } from '../billing/settlement.ts'
import type { Clock } from '../config.ts'
import type { StoreParts } from '../store/store.ts'
import { needOf, scoped } from './route-scope.ts'
import type { HttpServer } from './server.ts'

export interface MoneyRouteComponents {
  auth: Authenticator
  billing: Billing
  settlements: Settlements
  apiKeys: ApiKeys
  plans: PlanService
  store: StoreParts<'accounts' | 'ledger'>
  clock: Clock
}

const MAX_AUDIT_LISTED = 500

/** Accounts' money side on the tracker's HTTP server: plans, API keys, the audit log, usage and invoices. */
export function registerMoneyRoutes(app: HttpServer, c: MoneyRouteComponents): void {
  const auth = (request: FastifyRequest) => c.auth.authenticate(request.headers.authorization, needOf(request))
  const pub = scoped('public')
  const read = scoped('read')
  // Keys and plans are managed with a password login only: an API key never makes or widens another.
  const session = scoped('session')

  app.get('/v1/plans', pub, async () => ({ plans: c.plans.plans }))
  app.put('/v1/account/plan', session, async (request) => c.plans.change(await auth(request), request.body))
  app.get('/v1/account/audit', read, async (request) => {
    const account = await auth(request)
    return { events: await c.store.accounts.listAudit(account.id, MAX_AUDIT_LISTED) }
  })

  const period = (text: unknown) => {
    if (text === undefined) return periodOf(c.clock.now())
    const p = typeof text === 'string' ? parsePeriod(text) : undefined
    if (p === undefined) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, 'period: must be YYYY-MM', { details: { field: 'period' } })
    }
    return p
  }
  const csv = (request: FastifyRequest) => (request.query as { format?: unknown }).format === 'csv'

  app.get('/v1/account/usage', read, async (request) =>
    c.billing.usage(await auth(request), period((request.query as { period?: unknown }).period))
  )
  app.get('/v1/account/invoices', read, async (request) => {
    const account = await auth(request)
    return { invoices: await c.store.ledger.listInvoices(account.id) }
  })
  app.get<{ Params: { period: string } }>('/v1/account/invoices/:period', read, async (request, reply) => {
    const account = await auth(request)
    const invoice = await c.store.ledger.getInvoice(account.id, period(request.params.period).id)
    if (invoice === undefined) throw new ShoalError(ErrorCode.NOT_FOUND, `no invoice for ${request.params.period}`)
    if (!csv(request)) return invoice
    reply.header('content-type', 'text/csv; charset=utf-8')
    return invoiceCsv(invoice)
  })

  // Node operators: settlement of download receipts, and payout statements (public: a node's earnings are not
  // secret, and statements only name the node).
  app.post('/v1/nodes/settlements', pub, async (request) => c.settlements.settle(request.body))
  app.get<{ Params: { peerId: string } }>('/v1/nodes/:peerId/earnings', pub, async (request) =>
    c.billing.nodeEarnings(request.params.peerId, period((request.query as { period?: unknown }).period))
  )
  app.get<{ Params: { peerId: string } }>('/v1/nodes/:peerId/payouts', pub, async (request, reply) => {
    const payouts = await c.store.ledger.listPayouts(request.params.peerId)
    if (csv(request)) {
      reply.header('content-type', 'text/csv; charset=utf-8')
      return payoutsCsv(payouts)
    }
    const total = (field: 'paidMicros' | 'heldMicros' | 'grossMicros') => payouts.reduce((sum, p) => sum + p[field], 0)
    return {
      node: request.params.peerId,
      payouts,
      totals: { grossMicros: total('grossMicros'), paidMicros: total('paidMicros'), heldMicros: total('heldMicros') }
    }
  })

  app.get('/v1/api-keys', session, async (request) => c.apiKeys.list(await auth(request)))
  app.post('/v1/api-keys', session, async (request, reply) => {
    const created = await c.apiKeys.create(await auth(request), request.body)
    reply.code(201)
    return created
  })
  app.delete<{ Params: { id: string } }>('/v1/api-keys/:id', session, async (request) =>
    c.apiKeys.revoke(await auth(request), request.params.id)
  )
}
