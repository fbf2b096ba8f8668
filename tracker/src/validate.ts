import {
  type BeginUploadRequest,
  type ChangePasswordRequest,
  type CommitSegmentRequest,
  type ConfirmSignupRequest,
  type CreateShareRequest,
  type DownloadGrantsRequest,
  ErrorCode,
  fromBase64Url,
  type HeartbeatPayload,
  type LoginRequest,
  MAX_HEARTBEAT_TOKEN_LENGTH,
  MAX_LIST_PAGE,
  MAX_TOKEN_LENGTH,
  MAX_VERSION_DAYS,
  MAX_VERSION_KEEP,
  normalizeEmail,
  OBJECT_NONCE_BYTES,
  type PlaceSegmentRequest,
  parseMerkleRoot,
  parsePieceCid,
  type RecoveryRequest,
  type RecoveryResetRequest,
  type RecoveryWrap,
  type RestoreVersionRequest,
  type SetRecoveryRequest,
  type ShareGrantsRequest,
  ShoalError,
  SIGNUP_CODE_DIGITS,
  type SignupRequest,
  type UpdateObjectRequest,
  type UpdateShareRequest,
  type VersionPolicyView
} from '@shoal/core'
import { LIMITS } from './constants.ts'

/*
 * Parsers for untrusted request bodies: each returns a typed value holding only the known fields, or throws
 * ERR_INVALID_INPUT naming the field in `details.field`. They check shape and bounds; rules that need state
 * (quota, placement, receipts) live in the services.
 */

function invalid(field: string, message: string): never {
  throw new ShoalError(ErrorCode.INVALID_INPUT, `${field}: ${message}`, { details: { field } })
}

function record(value: unknown, field = 'body'): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(field, 'must be a JSON object')
  return value as Record<string, unknown>
}

function string(value: unknown, field: string, max: number, min = 1): string {
  if (typeof value !== 'string') return invalid(field, 'must be a string')
  if (value.length < min || value.length > max) invalid(field, `must be ${min} to ${max} characters`)
  return value
}

const BASE64URL = /^[A-Za-z0-9_-]*$/

function base64url(value: unknown, field: string, max: number, min = 1): string {
  const text = string(value, field, max, min)
  if (!BASE64URL.test(text)) invalid(field, 'must be base64url')
  try {
    fromBase64Url(text)
  } catch {
    invalid(field, 'must be canonical base64url')
  }
  return text
}

function integer(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return invalid(field, 'must be an integer')
  if (value < min || value > max) invalid(field, `must be between ${min} and ${max}`)
  return value
}

function array(value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value)) return invalid(field, 'must be an array')
  if (value.length > max) invalid(field, `must have at most ${max} entries`)
  return value
}

function cid(value: unknown, field: string): string {
  try {
    return parsePieceCid(value).toString()
  } catch (err) {
    return invalid(field, (err as Error).message)
  }
}

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]+$/

function peerId(value: unknown, field: string): string {
  const text = string(value, field, LIMITS.peerId)
  if (!PEER_ID.test(text)) invalid(field, 'must be a base58 peer id')
  return text
}

/** A path parameter that is an id we issued (base64url). */
export function parseId(value: unknown, field = 'id'): string {
  return base64url(value, field, 64)
}

export function parseNameHash(value: unknown): string {
  return base64url(value, 'nameHash', LIMITS.nameHash)
}

/** `?after=&limit=` of a listing: after a name hash, a page of 1 to MAX_LIST_PAGE (default: a full page). */
export function parseListQuery(query: unknown): { after?: string; limit: number } {
  const q = (query ?? {}) as Record<string, unknown>
  const limit =
    q.limit === undefined
      ? MAX_LIST_PAGE
      : typeof q.limit === 'string' && /^[1-9][0-9]{0,5}$/.test(q.limit)
        ? Number(q.limit)
        : invalid('limit', `must be an integer from 1 to ${MAX_LIST_PAGE}`)
  if (limit > MAX_LIST_PAGE) invalid('limit', `must be an integer from 1 to ${MAX_LIST_PAGE}`)
  return { ...(q.after === undefined ? {} : { after: base64url(q.after, 'after', LIMITS.nameHash) }), limit }
}

/**
 * `?after=&limit=` of a version listing: after a version cursor ("<supersededAt>.<id>", what `next` carries), a page
 * of 1 to MAX_LIST_PAGE.
 */
export interface VersionsPage {
  after?: { supersededAt: number; id: string }
  limit: number
}

export function parseVersionsQuery(query: unknown): VersionsPage {
  const q = (query ?? {}) as Record<string, unknown>
  const { limit } = parseListQuery({ limit: q.limit })
  if (q.after === undefined) return { limit }
  const match = typeof q.after === 'string' ? /^(0|[1-9][0-9]{0,15})\.([A-Za-z0-9_-]{1,64})$/.exec(q.after) : null
  if (match === null) return invalid('after', 'must be a cursor from "next"')
  return { after: { supersededAt: Number(match[1]), id: parseId(match[2], 'after') }, limit }
}

export function parseRestoreVersion(body: unknown): RestoreVersionRequest {
  return { meta: base64url(record(body).meta, 'meta', LIMITS.meta) }
}

/** Both limits must be given: a number, or null for none. */
export function parseVersionPolicy(body: unknown): VersionPolicyView {
  const b = record(body)
  const limit = (value: unknown, field: string, max: number) => (value === null ? null : integer(value, field, 0, max))
  return { keep: limit(b.keep, 'keep', MAX_VERSION_KEEP), days: limit(b.days, 'days', MAX_VERSION_DAYS) }
}

/** A path parameter that is a segment index, checked against the object's segment count. */
export function parseSegmentIndex(value: unknown, segmentCount: number): number {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,9})$/.test(value)) invalid('index', 'must be an integer')
  const index = Number(value)
  if (index >= segmentCount) invalid('index', `must be below the segment count ${segmentCount}`)
  return index
}

/** Normalized with core's normalizeEmail, then checked for a plausible shape (the tracker sends no mail). */
export function parseEmail(value: unknown): string {
  const email = normalizeEmail(string(value, 'email', LIMITS.email))
  if (!/^[^\s@]{1,64}@[^\s@]{1,253}$/.test(email)) invalid('email', 'is not an email address')
  return email
}

export function parseSignup(body: unknown): SignupRequest {
  const b = record(body)
  return {
    email: parseEmail(b.email),
    authKey: authKey(b.authKey, 'authKey'),
    wrappedMasterKey: base64url(b.wrappedMasterKey, 'wrappedMasterKey', LIMITS.wrappedMasterKey),
    ...(b.recovery === undefined ? {} : { recovery: parseRecoveryWrap(b.recovery, 'recovery') })
  }
}

export function parseConfirmSignup(body: unknown): ConfirmSignupRequest {
  const b = record(body)
  const code = string(b.code, 'code', 32).replace(/[\s-]/g, '')
  if (!new RegExp(`^[0-9]{${SIGNUP_CODE_DIGITS}}$`).test(code)) {
    invalid('code', `must be the ${SIGNUP_CODE_DIGITS}-digit code from the mail`)
  }
  return { email: parseEmail(b.email), code }
}

function authKey(value: unknown, field: string): string {
  return base64url(value, field, LIMITS.authKey, 16)
}

function parseRecoveryWrap(value: unknown, field: string): RecoveryWrap {
  const r = record(value, field)
  return {
    authKey: authKey(r.authKey, `${field}.authKey`),
    wrappedMasterKey: base64url(r.wrappedMasterKey, `${field}.wrappedMasterKey`, LIMITS.wrappedMasterKey)
  }
}

export function parseChangePassword(body: unknown): ChangePasswordRequest {
  const b = record(body)
  return {
    authKey: authKey(b.authKey, 'authKey'),
    newAuthKey: authKey(b.newAuthKey, 'newAuthKey'),
    wrappedMasterKey: base64url(b.wrappedMasterKey, 'wrappedMasterKey', LIMITS.wrappedMasterKey)
  }
}

export function parseSetRecovery(body: unknown): SetRecoveryRequest {
  const b = record(body)
  return { authKey: authKey(b.authKey, 'authKey'), recovery: parseRecoveryWrap(b.recovery, 'recovery') }
}

export function parseRecovery(body: unknown): RecoveryRequest {
  const b = record(body)
  return { email: parseEmail(b.email), recoveryAuthKey: authKey(b.recoveryAuthKey, 'recoveryAuthKey') }
}

export function parseRecoveryReset(body: unknown): RecoveryResetRequest {
  const b = record(body)
  return {
    ...parseRecovery(body),
    authKey: authKey(b.authKey, 'authKey'),
    wrappedMasterKey: base64url(b.wrappedMasterKey, 'wrappedMasterKey', LIMITS.wrappedMasterKey)
  }
}

export function parseLogin(body: unknown): LoginRequest {
  const b = record(body)
  return { email: parseEmail(b.email), authKey: base64url(b.authKey, 'authKey', LIMITS.authKey, 16) }
}

export function parseHeartbeatRequest(body: unknown): { token: string } {
  return { token: string(record(body).token, 'token', MAX_HEARTBEAT_TOKEN_LENGTH) }
}

/** The payload of a heartbeat whose signature was already checked. */
export function parseHeartbeatPayload(value: unknown): HeartbeatPayload {
  const p = record(value, 'token')
  if (p.v !== 1) invalid('token.v', 'must be 1')
  if (p.kind !== 'heartbeat') invalid('token.kind', 'must be "heartbeat"')
  return {
    v: 1,
    kind: 'heartbeat',
    node: peerId(p.node, 'token.node'),
    addrs: array(p.addrs, 'token.addrs', LIMITS.addrs).map((a, i) => string(a, `token.addrs[${i}]`, LIMITS.addr)),
    capacity: integer(p.capacity, 'token.capacity', 0, LIMITS.nodeCapacity),
    used: integer(p.used, 'token.used', 0),
    free: integer(p.free, 'token.free', 0, LIMITS.nodeCapacity),
    at: integer(p.at, 'token.at', 0),
    version: string(p.version, 'token.version', LIMITS.version, 0),
    deleted: array(p.deleted, 'token.deleted', LIMITS.deleted).map((s, i) => base64url(s, `token.deleted[${i}]`, 64))
  }
}

/** A begin-upload request with `overwrite` settled. */
export type BeginUpload = BeginUploadRequest & { overwrite: boolean }

export function parseBeginUpload(body: unknown): BeginUpload {
  const b = record(body)
  const nonce = base64url(b.nonce, 'nonce', 16)
  if (fromBase64Url(nonce).byteLength !== OBJECT_NONCE_BYTES) invalid('nonce', `must be ${OBJECT_NONCE_BYTES} bytes`)
  if (b.overwrite !== undefined && typeof b.overwrite !== 'boolean') invalid('overwrite', 'must be a boolean')
  return {
    nameHash: base64url(b.nameHash, 'nameHash', LIMITS.nameHash),
    size: integer(b.size, 'size', 0),
    meta: base64url(b.meta, 'meta', LIMITS.meta),
    wrappedKey: base64url(b.wrappedKey, 'wrappedKey', LIMITS.wrappedKey),
    nonce,
    overwrite: b.overwrite === true
  }
}

/** Exactly `total` pieces, indexes 0..total-1 each once; sizes are checked by the caller against the layout. */
/** All `total` pieces, or at least `min` of them (a degraded placement: Uploads.place checks it is needed). */
export function parsePlaceSegment(
  body: unknown,
  total: number,
  min = total
): PlaceSegmentRequest & { exclude: string[] } {
  const b = record(body)
  const list = array(b.pieces, 'pieces', total)
  if (list.length < min) {
    invalid('pieces', `must list all ${total} pieces of the segment${min < total ? `, or at least ${min}` : ''}`)
  }
  const seen = new Set<number>()
  const pieces = list.map((value, i) => {
    const p = record(value, `pieces[${i}]`)
    const index = integer(p.index, `pieces[${i}].index`, 0, total - 1)
    if (seen.has(index)) invalid(`pieces[${i}].index`, `piece ${index} is listed twice`)
    seen.add(index)
    const piece = { index, cid: cid(p.cid, `pieces[${i}].cid`), size: integer(p.size, `pieces[${i}].size`, 0) }
    if (p.root === undefined) return piece
    try {
      parseMerkleRoot(p.root)
    } catch {
      invalid(`pieces[${i}].root`, 'must be a 32-byte Merkle root in base64url')
    }
    return { ...piece, root: p.root as string }
  })
  const exclude =
    b.exclude === undefined
      ? []
      : array(b.exclude, 'exclude', LIMITS.exclude).map((e, i) => string(e, `exclude[${i}]`, LIMITS.peerId))
  return { pieces: pieces.sort((a, b) => a.index - b.index), exclude }
}

export function parseCommitSegment(body: unknown, total: number): CommitSegmentRequest {
  const b = record(body)
  const seen = new Set<number>()
  const pieces = array(b.pieces, 'pieces', total).map((value, i) => {
    const p = record(value, `pieces[${i}]`)
    const index = integer(p.index, `pieces[${i}].index`, 0, total - 1)
    if (seen.has(index)) invalid(`pieces[${i}].index`, `piece ${index} is listed twice`)
    seen.add(index)
    return {
      index,
      cid: cid(p.cid, `pieces[${i}].cid`),
      node: peerId(p.node, `pieces[${i}].node`),
      receipt: string(p.receipt, `pieces[${i}].receipt`, MAX_TOKEN_LENGTH)
    }
  })
  return { pieces: pieces.sort((a, b) => a.index - b.index) }
}

export function parseDownloadGrants(body: unknown, segmentCount: number, maxSegments: number): DownloadGrantsRequest {
  const b = record(body)
  const from = integer(b.from, 'from', 0, segmentCount - 1)
  const to = integer(b.to, 'to', from + 1, segmentCount)
  if (to - from > maxSegments) invalid('to', `at most ${maxSegments} segments per request`)
  return { from, to }
}

/** The segments a download's first call asks grants for, from the first: 1 to `maxSegments`. */
export function parseOpenObject(body: unknown, maxSegments: number): { first: number } {
  return { first: integer(record(body).first, 'first', 1, maxSegments) }
}

export function parseUpdateObject(body: unknown): UpdateObjectRequest {
  const b = record(body)
  return { nameHash: base64url(b.nameHash, 'nameHash', LIMITS.nameHash), meta: base64url(b.meta, 'meta', LIMITS.meta) }
}

export function parseCreateShare(body: unknown, now: number): CreateShareRequest {
  const b = record(body)
  const share: CreateShareRequest = {
    objectId: parseId(b.objectId, 'objectId'),
    meta: base64url(b.meta, 'meta', LIMITS.shareMeta)
  }
  if (b.expiresAt !== undefined) {
    share.expiresAt = integer(b.expiresAt, 'expiresAt', now + 1)
  }
  if (b.password !== undefined) {
    const p = record(b.password, 'password')
    share.password = {
      salt: base64url(p.salt, 'password.salt', 64, 16),
      authKey: base64url(p.authKey, 'password.authKey', LIMITS.authKey, 16)
    }
  }
  return share
}

export function parseUpdateShare(body: unknown, now: number): UpdateShareRequest {
  const b = record(body)
  if (b.expiresAt === null) return { expiresAt: null }
  return { expiresAt: integer(b.expiresAt, 'expiresAt', now + 1) }
}

/** Like parseDownloadGrants, plus the share password's auth key when one is sent. */
export function parseShareGrants(body: unknown, segmentCount: number, maxSegments: number): ShareGrantsRequest {
  const range = parseDownloadGrants(body, segmentCount, maxSegments)
  const authKey = record(body).authKey
  return authKey === undefined ? range : { ...range, authKey: base64url(authKey, 'authKey', LIMITS.authKey, 16) }
}
