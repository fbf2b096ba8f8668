import { gibMonths, type PayoutStatement } from '@shoal/core'
import type { EarningsView } from './operator/status.ts'

/** Unit the tracker's micro-units are in, as the operator's page shows it. */
export const EARNINGS_CURRENCY = 'credits'

/**
 * This month's earnings so far, as the tracker will state them (GET /v1/nodes/:peerId/earnings): for the
 * operator's dashboard and `shoal-node status`. Null when the tracker cannot be asked.
 */
export async function fetchEarnings(trackerUrl: string, peerId: string): Promise<EarningsView | null> {
  try {
    const response = await fetch(`${trackerUrl.replace(/\/+$/, '')}/v1/nodes/${encodeURIComponent(peerId)}/earnings`, {
      signal: AbortSignal.timeout(10_000)
    })
    if (!response.ok) return null
    const statement = (await response.json()) as Omit<PayoutStatement, 'issuedAt' | 'txn'>
    return {
      currency: EARNINGS_CURRENCY,
      thisMonth: statement.grossMicros,
      heldBack: statement.heldMicros,
      servedToRepairs: statement.repairEgressBytes ?? 0,
      unpaidGiBMonths: gibMonths(statement.failedAuditByteMs ?? '0')
    }
  } catch {
    return null
  }
}
