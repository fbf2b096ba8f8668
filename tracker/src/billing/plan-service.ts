import { ErrorCode, ShoalError } from '@shoal/core'
import { accountView } from '../accounts.ts'
import { auditRecord } from '../audit-log.ts'
import type { Clock } from '../config.ts'
import type { AccountRecord, StoreParts } from '../store/store.ts'
import { findPlan, type Plan } from './plans.ts'

/** Plan changes: an upgrade raises the quota at once; a downgrade is refused while the account holds more. */
export class PlanService {
  readonly #store: StoreParts<'accounts'>
  readonly #clock: Clock
  readonly plans: readonly Plan[]

  constructor(components: { store: StoreParts<'accounts'>; clock: Clock; plans: readonly Plan[] }) {
    this.#store = components.store
    this.#clock = components.clock
    this.plans = components.plans
  }

  async change(account: AccountRecord, body: unknown) {
    const id = (body as { plan?: unknown } | null)?.plan
    const plan = typeof id === 'string' ? findPlan(this.plans, id) : undefined
    if (plan === undefined) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `plan: must be one of ${this.plans.map((p) => p.id).join(', ')}`, {
        details: { field: 'plan' }
      })
    }
    const from = account.plan ?? 'free'
    const now = this.#clock.now()
    try {
      const updated = await this.#store.accounts.changePlan(
        account.id,
        plan.id,
        plan.quota,
        auditRecord(account.id, now, 'plan-changed', { from, to: plan.id, quota: plan.quota })
      )
      return { account: accountView(updated) }
    } catch (err) {
      if (err instanceof ShoalError && err.code === ErrorCode.QUOTA_EXCEEDED) {
        throw new ShoalError(
          ErrorCode.QUOTA_EXCEEDED,
          `cannot move to ${plan.name}: the account holds more than its quota (delete files or abort uploads first)`,
          { details: { ...err.details, plan: plan.id } }
        )
      }
      throw err
    }
  }
}
