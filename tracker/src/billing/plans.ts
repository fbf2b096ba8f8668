import { BILLING_MONTH_MS, GiB } from '@shoal/core'

const TiB = 1024 * GiB

/**
 * The plans. Prices are integer micro-units of the currency (1 unit = 1,000,000) so every sum is exact. No
 * plan is ever throttled: plans differ in quota and price only (Shoal sells space, never speed).
 */
export interface Plan {
  id: string
  name: string
  /** Bytes (plaintext) the account may store. */
  quota: number
  /** Price of one GiB stored for one GiB-month (GIB_MONTH_MS). */
  storageMicrosPerGiBMonth: number
  /** Price of one GiB downloaded (settled by nodes' receipts). */
  egressMicrosPerGiB: number
}

/** A billing month is 30 days of 24 hours, whatever the calendar month's length: a GiB-month is the same everywhere. */
export const MONTH_MS = BILLING_MONTH_MS

export const FREE_PLAN = 'free'

/** `free` takes the tracker's --quota; the paid plans have fixed quotas. */
export function planCatalog(freeQuota: number): Plan[] {
  return [
    { id: FREE_PLAN, name: 'Free', quota: freeQuota, storageMicrosPerGiBMonth: 0, egressMicrosPerGiB: 0 },
    {
      id: 'plus',
      name: 'Plus',
      quota: 2 * TiB,
      // 4 per TiB-month and 7 per TiB downloaded, rounded to micro-units per GiB.
      storageMicrosPerGiBMonth: 3_900,
      egressMicrosPerGiB: 6_800
    },
    { id: 'pro', name: 'Pro', quota: 20 * TiB, storageMicrosPerGiBMonth: 3_500, egressMicrosPerGiB: 6_000 }
  ]
}

export function findPlan(plans: readonly Plan[], id: string | undefined): Plan | undefined {
  return plans.find((p) => p.id === (id ?? FREE_PLAN))
}
