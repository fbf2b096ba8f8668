/**
 * Errors carry a stable `code`: callers and tests branch on codes, never on messages.
 * The same codes travel over the wire (piece protocol status, tracker HTTP bodies) and are
 * mapped back to these classes by `errorFromCode`.
 */
export class ShoalError extends Error {
  readonly code: string
  readonly details: Record<string, unknown> | undefined

  constructor(code: string, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ShoalError'
    this.code = code
    this.details = options?.details
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }
}

export const ErrorCode = {
  INVALID_INPUT: 'ERR_INVALID_INPUT',
  INVALID_CID: 'ERR_INVALID_CID',
  PIECE_CORRUPT: 'ERR_PIECE_CORRUPT',
  PIECE_NOT_FOUND: 'ERR_PIECE_NOT_FOUND',
  PIECE_EXISTS: 'ERR_PIECE_EXISTS',
  DECRYPT_FAILED: 'ERR_DECRYPT_FAILED',
  ERASURE_FAILED: 'ERR_ERASURE_FAILED',
  NOT_ENOUGH_PIECES: 'ERR_NOT_ENOUGH_PIECES',
  INVALID_MANIFEST: 'ERR_INVALID_MANIFEST',
  GRANT_INVALID: 'ERR_GRANT_INVALID',
  GRANT_EXPIRED: 'ERR_GRANT_EXPIRED',
  GRANT_WRONG_NODE: 'ERR_GRANT_WRONG_NODE',
  GRANT_WRONG_PIECE: 'ERR_GRANT_WRONG_PIECE',
  GRANT_WRONG_KIND: 'ERR_GRANT_WRONG_KIND',
  GRANT_REPLAYED: 'ERR_GRANT_REPLAYED',
  GRANT_LIMIT: 'ERR_GRANT_LIMIT',
  RECEIPT_INVALID: 'ERR_RECEIPT_INVALID',
  PROTOCOL: 'ERR_PROTOCOL',
  FRAME_TOO_LARGE: 'ERR_FRAME_TOO_LARGE',
  TRUNCATED: 'ERR_TRUNCATED',
  NODE_FULL: 'ERR_NODE_FULL',
  DISK_FULL: 'ERR_DISK_FULL',
  NODE_OVERLOADED: 'ERR_NODE_OVERLOADED',
  NODE_UNREACHABLE: 'ERR_NODE_UNREACHABLE',
  NOT_ENOUGH_NODES: 'ERR_NOT_ENOUGH_NODES',
  UNAUTHORIZED: 'ERR_UNAUTHORIZED',
  WRONG_PASSWORD: 'ERR_WRONG_PASSWORD',
  /** A recovery attempt with a wrong recovery key, an unknown email, or an account without a recovery key. */
  WRONG_RECOVERY_KEY: 'ERR_WRONG_RECOVERY_KEY',
  ACCOUNT_EXISTS: 'ERR_ACCOUNT_EXISTS',
  /** A sign-up confirmation with a wrong or expired code, or for an email with no sign-up waiting (one error). */
  VERIFICATION_FAILED: 'ERR_VERIFICATION_FAILED',
  /** The tracker verifies emails: the sign-up needs the code it mailed (ShoalClient.signup's `code`). */
  VERIFICATION_REQUIRED: 'ERR_VERIFICATION_REQUIRED',
  /** A download-grant request names a receipt key granted to another account or share link. */
  RECEIPT_KEY_TAKEN: 'ERR_RECEIPT_KEY_TAKEN',
  QUOTA_EXCEEDED: 'ERR_QUOTA_EXCEEDED',
  NOT_FOUND: 'ERR_NOT_FOUND',
  OBJECT_NOT_FOUND: 'ERR_OBJECT_NOT_FOUND',
  UPLOAD_NOT_FOUND: 'ERR_UPLOAD_NOT_FOUND',
  UPLOAD_INCOMPLETE: 'ERR_UPLOAD_INCOMPLETE',
  CONFLICT: 'ERR_CONFLICT',
  TRACKER_UNREACHABLE: 'ERR_TRACKER_UNREACHABLE',
  TIMEOUT: 'ERR_TIMEOUT',
  SHARE_NOT_FOUND: 'ERR_SHARE_NOT_FOUND',
  SHARE_REVOKED: 'ERR_SHARE_REVOKED',
  SHARE_EXPIRED: 'ERR_SHARE_EXPIRED',
  SHARE_PASSWORD: 'ERR_SHARE_PASSWORD',
  /** The tracker's operator took the share down (an abuse report); the owner's file is untouched. */
  SHARE_REMOVED: 'ERR_SHARE_REMOVED',
  /** The tracker's operator suspended the account: no logins, API keys or share links until lifted. */
  ACCOUNT_SUSPENDED: 'ERR_ACCOUNT_SUSPENDED',
  ABORTED: 'ERR_ABORTED',
  FORBIDDEN: 'ERR_FORBIDDEN',
  RATE_LIMITED: 'ERR_RATE_LIMITED',
  SETTLEMENT_REJECTED: 'ERR_SETTLEMENT_REJECTED',
  /** The Merkle root a client claimed differs from the one the node computed and signed. */
  ROOT_MISMATCH: 'ERR_ROOT_MISMATCH',
  /** The tracker could not dial a node back on the addresses it claims, as the peer id it claims. */
  NODE_NOT_REACHABLE: 'ERR_NODE_NOT_REACHABLE',
  /** KDF parameters (from a tracker) below the client's floor: the tracker may be trying to weaken the key. */
  KDF_TOO_WEAK: 'ERR_KDF_TOO_WEAK',
  /** A get needs a receipt key, or the client did not send the receipt the node's credit window waits for. */
  RECEIPT_REQUIRED: 'ERR_RECEIPT_REQUIRED',
  INTERNAL: 'ERR_INTERNAL'
} as const

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

export function isShoalError(err: unknown, code?: string): err is ShoalError {
  return err instanceof ShoalError && (code === undefined || err.code === code)
}

/** Rebuilds a typed error from a code and message that crossed the wire. */
export function errorFromCode(code: unknown, message: unknown, details?: unknown): ShoalError {
  const safeCode = typeof code === 'string' && /^ERR_[A-Z0-9_]{1,64}$/.test(code) ? code : ErrorCode.PROTOCOL
  const safeMessage = typeof message === 'string' ? message.slice(0, 1000) : `remote error ${safeCode}`
  const safeDetails = details !== null && typeof details === 'object' ? (details as Record<string, unknown>) : undefined
  return new ShoalError(safeCode, safeMessage, safeDetails === undefined ? undefined : { details: safeDetails })
}

/** One line a person can read, for CLIs and logs. */
export function describeError(err: unknown): string {
  if (err instanceof ShoalError) return `${err.message} (${err.code})`
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' ? `${err.message} (${code})` : err.message
  }
  return String(err)
}
