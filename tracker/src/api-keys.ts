import { ErrorCode, randomBytes, ShoalError, toBase64Url } from '@shoal/core'
import { auditRecord } from './audit-log.ts'
import { hashToken } from './auth.ts'
import type { Clock } from './config.ts'
import { randomId } from './ids.ts'
import { SCOPES } from './store/money-records.ts'
import type { AccountRecord, ApiKeyRecord, Scope, StoreParts } from './store/store.ts'

/** Live keys per account: enough for every script and device, few enough to list in one answer. */
export const MAX_API_KEYS = 100
const KEY_PREFIX = 'shk_'

export interface ApiKeyView {
  id: string
  name: string
  scopes: Scope[]
  createdAt: number
  revokedAt?: number
}

/**
 * API keys: bearer secrets with scopes (read, write, share) for scripts and devices, beside password sessions.
 * Only the sha256 of a key is stored; the key itself is returned once, at creation. Keys cannot manage keys
 * or plans (those need a password session), so a leaked key can be revoked and never escalates.
 */
export class ApiKeys {
  readonly #store: StoreParts<'accounts'>
  readonly #clock: Clock

  constructor(components: { store: StoreParts<'accounts'>; clock: Clock }) {
    this.#store = components.store
    this.#clock = components.clock
  }

  async create(account: AccountRecord, body: unknown): Promise<ApiKeyView & { key: string }> {
    const { name, scopes } = parseCreate(body)
    const live = (await this.#store.accounts.listApiKeys(account.id)).filter((k) => k.revokedAt === undefined)
    if (live.length >= MAX_API_KEYS) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `an account has at most ${MAX_API_KEYS} live API keys`, {
        details: { field: 'name', limit: MAX_API_KEYS }
      })
    }
    const key = `${KEY_PREFIX}${toBase64Url(randomBytes(32))}`
    const now = this.#clock.now()
    const record: ApiKeyRecord = {
      id: randomId(),
      accountId: account.id,
      hash: hashToken(key),
      name,
      scopes,
      createdAt: now
    }
    await this.#store.accounts.createApiKey(
      record,
      auditRecord(account.id, now, 'api-key-created', { key: record.id, scopes: scopes.join(',') })
    )
    return { ...view(record), key }
  }

  async list(account: AccountRecord): Promise<{ keys: ApiKeyView[] }> {
    return { keys: (await this.#store.accounts.listApiKeys(account.id)).map(view) }
  }

  async revoke(account: AccountRecord, id: string): Promise<{ revoked: true }> {
    const now = this.#clock.now()
    if (
      !(await this.#store.accounts.revokeApiKey(
        account.id,
        id,
        now,
        auditRecord(account.id, now, 'api-key-revoked', { key: id })
      ))
    ) {
      throw new ShoalError(ErrorCode.NOT_FOUND, `no live API key ${id}`)
    }
    return { revoked: true }
  }
}

function view(k: ApiKeyRecord): ApiKeyView {
  return {
    id: k.id,
    name: k.name,
    scopes: k.scopes,
    createdAt: k.createdAt,
    ...(k.revokedAt === undefined ? {} : { revokedAt: k.revokedAt })
  }
}

function parseCreate(body: unknown): { name: string; scopes: Scope[] } {
  const bad = (field: string, why: string): never => {
    throw new ShoalError(ErrorCode.INVALID_INPUT, `${field}: ${why}`, { details: { field } })
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return bad('body', 'must be a JSON object')
  const b = body as Record<string, unknown>
  const name = b.name ?? ''
  if (typeof name !== 'string' || name.length > 100) return bad('name', 'must be a string of at most 100 characters')
  if (!Array.isArray(b.scopes) || b.scopes.length === 0) return bad('scopes', `must list some of ${SCOPES.join(', ')}`)
  const scopes = [...new Set(b.scopes as unknown[])]
  for (const s of scopes) if (!SCOPES.includes(s as Scope)) bad('scopes', `unknown scope ${JSON.stringify(s)}`)
  return { name, scopes: SCOPES.filter((s) => scopes.includes(s)) }
}
