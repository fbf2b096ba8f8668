import { describe, expect, it } from 'vitest'
import { earningsLine } from '../src/operator/format-status.ts'

describe('the earnings line of shoal-node status', () => {
  it('says what was earned and held back, and only then repair traffic and unpaid storage', () => {
    const base = { currency: 'credits', thisMonth: 8_250_000, heldBack: 6_187_500 }
    expect(earningsLine({ ...base, servedToRepairs: 0, unpaidGiBMonths: '0.000000' })).toBe(
      '8.25 credits this month, 6.19 held back'
    )
    expect(earningsLine({ ...base, servedToRepairs: 3 * 2 ** 20, unpaidGiBMonths: '0.010416' })).toBe(
      '8.25 credits this month, 6.19 held back, 3.0 MiB served to repairs, 0.010416 GiB-months unpaid (pieces that failed audits)'
    )
  })
})
