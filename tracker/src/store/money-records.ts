/**
 * Records of the money side (docs/billing.md): API keys, the account audit log, settled download receipts,
 * storage spans, the double-entry ledger, invoices and payout statements. Amounts are integer micro-units of
 * the currency (1 unit = 1,000,000); byte-milliseconds can pass 2^53, so they travel as decimal strings.
 */
import type { Invoice, PayoutStatement } from '@shoal/core'

export type Scope = 'read' | 'write' | 'share'
export const SCOPES: readonly Scope[] = ['read', 'write', 'share']

export interface ApiKeyRecord {
  id: string
  accountId: string
  /** base64url sha256 of the secret: the key itself is shown once and never stored. */
  hash: string
  name: string
  scopes: Scope[]
  createdAt: number
  revokedAt?: number
}

export interface AuditRecord {
  /** Time-ordered and unique: `<at, 16 digits>-<random>`. */
  id: string
  accountId: string
  at: number
  /** signup, login, login-failed, plan-changed, api-key-created, api-key-revoked, ... */
  event: string
  details?: Record<string, string | number | boolean>
}

/** A plan change: from `at` on the account is billed at `to`; before, at `from` (absent: the free plan). */
export interface PlanChange {
  accountId: string
  at: number
  from?: string
  to: string
}

/**
 * A piece of a committed object changing hands (repair, graceful exit): from `at` on, `bytes` of the object's
 * storage count for `to` instead of `from` in node payouts. Absent `from`: a piece that had no holder; absent
 * `to`: a piece dropped without a replacement.
 */
export interface PieceMove {
  objectId: string
  at: number
  from?: string
  to?: string
  bytes: number
}

/** The moves that turn one segment's `before` pieces into `after`, each piece `bytes` long. */
export function pieceMoves(
  objectId: string,
  at: number,
  before: readonly { index: number; node: string }[],
  after: readonly { index: number; node: string }[],
  bytes: number
): PieceMove[] {
  const moves: PieceMove[] = []
  const indexes = new Set([...before.map((p) => p.index), ...after.map((p) => p.index)])
  for (const index of indexes) {
    const from = before.find((p) => p.index === index)?.node
    const to = after.find((p) => p.index === index)?.node
    if (from === to) continue
    moves.push({
      objectId,
      at,
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      bytes
    })
  }
  return moves
}

/** One download receipt a node settled: the bytes a client signed for under one get grant. */
export interface SettlementRecord {
  serial: string
  node: string
  account: string
  piece: string
  bytes: number
  grantExp: number
  settledAt: number
}

/** A committed object's life: it is billed (and its nodes paid) for `size` bytes from `from` until `to`. */
export interface StorageSpan {
  objectId: string
  account: string
  /** Plaintext bytes: what the owner is billed for. */
  size: number
  /** Stored bytes per node (pieces, with parity): what each node is paid for. */
  nodes: Record<string, number>
  from: number
  /** Unset while the object exists. */
  to?: number
}

/** One leg of a balanced transaction: the legs of a `txn` sum to zero. */
export interface LedgerEntry {
  txn: string
  /** customer:<account>, revenue:storage, revenue:egress, expense:storage, expense:egress, node:<peer>, held:<peer> */
  ledger: string
  amount: number
  at: number
  memo: string
}

/** Stored exactly as the API serves it. */
export type InvoiceRecord = Invoice

/** Stored exactly as the API serves it. */
export type PayoutRecord = PayoutStatement
