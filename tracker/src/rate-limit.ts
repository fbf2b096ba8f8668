import { ErrorCode, ShoalError } from '@shoal/core'

/**
 * Token buckets per key (an IP, an email) for sign-up and login. The buckets live in the Store, so trackers
 * sharing one PostgreSQL share one limit: an attacker gets the rate once, not once per tracker behind the
 * balancer. (Guessing a password stays hopeless either way: the auth key is a 256-bit secret stretched by the
 * client's scrypt; what the limit stops is cheap floods.)
 */
export interface BucketRule {
  /** Attempts allowed at once. */
  burst: number
  /** One attempt comes back every this many ms. */
  refillMs: number
}

export const RATE_LIMITS = {
  signupPerIp: { burst: 30, refillMs: 10_000 },
  loginPerIp: { burst: 100, refillMs: 500 },
  loginPerEmail: { burst: 20, refillMs: 6_000 },
  /** Email verification on: mails one address may be sent by sign-ups (codes or warnings). */
  signupMailPerEmail: { burst: 5, refillMs: 10 * 60_000 },
  /** Sign-up codes tried per email and per address: 6 digits, so a guess in 15 minutes stays ~1 in 100,000. */
  confirmPerEmail: { burst: 5, refillMs: 2 * 60_000 },
  confirmPerIp: { burst: 20, refillMs: 3_000 },
  /** Share-grant requests per address: each may make the tracker sign 16 x (k + m) grants. */
  shareGrantsPerIp: { burst: 60, refillMs: 250 },
  /**
   * Grants signed for share links, per minute (a request costs one token per grant): per address, and per share
   * for all its visitors together. 8,192 grants is 1,024 segments of a 4 + 4 file (8 GiB at 8 MiB segments).
   */
  shareGrantBudgetPerIp: { burst: 8_192, refillMs: 60_000 / 8_192 },
  shareGrantBudgetPerShare: { burst: 32_768, refillMs: 60_000 / 32_768 },
  /** Password guesses per share, per share owner (all their shares) and per address, before any scrypt runs. */
  sharePasswordPerShare: { burst: 10, refillMs: 6_000 },
  sharePasswordPerOwner: { burst: 30, refillMs: 2_000 },
  sharePasswordPerIp: { burst: 20, refillMs: 3_000 }
} as const satisfies Record<string, BucketRule>

/**
 * Takes a token (or `cost`) from each bucket, or fails with ERR_RATE_LIMITED (details: retryAfterMs) taking
 * none: the one gate every limit goes through.
 */
export async function takeOrRefuse(
  coordination: { takeRateTokens(keys: readonly BucketKey[], now: number): Promise<number> },
  keys: readonly BucketKey[],
  now: number
): Promise<void> {
  const wait = await coordination.takeRateTokens(keys, now)
  if (wait > 0) {
    throw new ShoalError(ErrorCode.RATE_LIMITED, `too many attempts: try again in ${Math.ceil(wait / 1000)} s`, {
      details: { retryAfterMs: wait }
    })
  }
}

export interface BucketKey {
  key: string
  rule: BucketRule
  /** Tokens this request takes from the bucket; default 1. At most the rule's burst. */
  cost?: number
}

/** A bucket as stored: tokens left as of `at` (ms). */
export interface Bucket {
  tokens: number
  at: number
}

/**
 * The token-bucket step, shared by every store: given the keys' stored buckets (undefined = full), either takes
 * one token from each and returns the buckets to store (wait 0), or, when any is short, takes none and returns
 * the milliseconds until the emptiest one refills a token.
 */
export function takeTokens(
  keys: readonly BucketKey[],
  stored: readonly (Bucket | undefined)[],
  now: number
): { wait: number; buckets: Bucket[] } {
  const tokens = keys.map(({ rule }, i) => {
    const b = stored[i]
    return b === undefined ? rule.burst : Math.min(rule.burst, b.tokens + Math.max(0, now - b.at) / rule.refillMs)
  })
  const cost = keys.map((k) => k.cost ?? 1)
  let wait = 0
  for (const [i, t] of tokens.entries()) {
    const need = cost[i] as number
    if (t < need) wait = Math.max(wait, Math.ceil((need - t) * (keys[i] as BucketKey).rule.refillMs))
  }
  if (wait > 0) return { wait, buckets: [] }
  return { wait: 0, buckets: tokens.map((t, i) => ({ tokens: t - (cost[i] as number), at: now })) }
}

/** Buckets untouched this long are full again, the same as absent: stores may forget them. */
export function bucketIdleMs(rule: BucketRule): number {
  return rule.burst * rule.refillMs
}

/** The longest any rule takes to refill: stores forget buckets idle for longer. */
export const MAX_BUCKET_IDLE_MS = Math.max(...Object.values(RATE_LIMITS).map(bucketIdleMs))

/** Keys tracked at most by the in-memory buckets; beyond it the stalest (least recently used) are forgotten. */
const MAX_KEYS = 100_000

/** Buckets in memory, for a store only one process uses (the level store). */
export class MemoryBuckets {
  readonly #buckets = new Map<string, Bucket>()

  take(keys: readonly BucketKey[], now: number): number {
    const { wait, buckets } = takeTokens(
      keys,
      keys.map(({ key }) => this.#buckets.get(key)),
      now
    )
    if (wait > 0) return wait
    for (const [i, { key }] of keys.entries()) {
      this.#buckets.delete(key)
      this.#buckets.set(key, buckets[i] as Bucket)
    }
    while (this.#buckets.size > MAX_KEYS) {
      const oldest = this.#buckets.keys().next().value
      if (oldest === undefined) break
      this.#buckets.delete(oldest)
    }
    return 0
  }
}
