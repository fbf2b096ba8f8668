import { randomId } from './ids.ts'
import type { AuditRecord } from './store/store.ts'

let sequence = 0

/**
 * An audit record. Its id sorts by time, then by this process's order among records of the same millisecond,
 * and ends in a random part so records of two tracker processes never collide.
 */
export function auditRecord(
  accountId: string,
  at: number,
  event: string,
  details?: Record<string, string | number | boolean>
): AuditRecord {
  return {
    id: `${String(at).padStart(16, '0')}-${String(++sequence % 1e9).padStart(9, '0')}-${randomId(6)}`,
    accountId,
    at,
    event,
    ...(details === undefined ? {} : { details })
  }
}
