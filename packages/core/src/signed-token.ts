import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.ts'
import { ShoalError } from './errors.ts'

/** Largest token accepted: bounds parsing work on input from the network. */
export const MAX_TOKEN_LENGTH = 4096

/**
 * Largest heartbeat token. A heartbeat lists the serials of every delete its node carried out since the last
 * acknowledged one (hundreds per interval when objects are deleted, thousands after an outage), so it needs far
 * more room than a grant or receipt: ~10,000 serials fit.
 */
export const MAX_HEARTBEAT_TOKEN_LENGTH = 512 * 1024

/**
 * A signed token is `base64url(payload JSON) "." base64url(Ed25519 signature over those payload bytes)`.
 * The signature covers the exact bytes sent, so no canonical JSON form is needed.
 */
export async function signToken(key: PrivateKey, payload: object): Promise<string> {
  const body = utf8(JSON.stringify(payload))
  const signature = await key.sign(body)
  return `${toBase64Url(body)}.${toBase64Url(signature)}`
}

/** Checks the signature and returns the payload; `code` is the error code used for any failure. */
export function openToken(token: unknown, key: PublicKey, code: string, what: string): Promise<unknown> {
  return openTokenWithLimit(token, key, code, what, MAX_TOKEN_LENGTH)
}

/** `openToken` with another length cap, for tokens that carry lists (heartbeats: MAX_HEARTBEAT_TOKEN_LENGTH). */
export async function openTokenWithLimit(
  token: unknown,
  key: PublicKey,
  code: string,
  what: string,
  maxLength: number
): Promise<unknown> {
  const { body, signature } = tokenParts(token, code, what, maxLength)
  await checkSignature(key, body, signature, code, what)
  return parsePayload(body, code, what)
}

/**
 * Opens a token whose signer its own payload names (a storage node signs with the key inside the peer id it
 * names): the payload is decoded once, `keyOf` picks the key from it (its errors pass through: the caller's own
 * code for a payload naming no usable signer), then the signature is checked. Any other failure uses `code`.
 */
export async function openTokenSignedByPayload(
  token: unknown,
  keyOf: (payload: unknown) => PublicKey,
  code: string,
  what: string,
  maxLength: number
): Promise<unknown> {
  const { body, signature } = tokenParts(token, code, what, maxLength)
  const payload = parsePayload(body, code, what)
  await checkSignature(keyOf(payload), body, signature, code, what)
  return payload
}

function tokenParts(
  token: unknown,
  code: string,
  what: string,
  maxLength: number
): { body: Uint8Array; signature: Uint8Array } {
  if (typeof token !== 'string' || token.length === 0 || token.length > maxLength) {
    throw new ShoalError(code, `${what} is missing or too long`)
  }
  const parts = token.split('.')
  if (parts.length !== 2) throw new ShoalError(code, `${what} is malformed`)
  try {
    return { body: fromBase64Url(parts[0] as string), signature: fromBase64Url(parts[1] as string) }
  } catch (cause) {
    throw new ShoalError(code, `${what} is not valid base64url`, { cause })
  }
}

async function checkSignature(
  key: PublicKey,
  body: Uint8Array,
  signature: Uint8Array,
  code: string,
  what: string
): Promise<void> {
  let valid = false
  try {
    valid = await key.verify(body, signature)
  } catch (cause) {
    throw new ShoalError(code, `${what} signature could not be checked`, { cause })
  }
  if (!valid) throw new ShoalError(code, `${what} signature is invalid`)
}

function parsePayload(body: Uint8Array, code: string, what: string): unknown {
  try {
    return JSON.parse(fromUtf8(body))
  } catch (cause) {
    throw new ShoalError(code, `${what} payload is not JSON`, { cause })
  }
}

/** Reads a payload without checking it: only for display or routing, never for a decision. */
export function peekToken(token: string): unknown {
  const [body] = token.split('.')
  return JSON.parse(fromUtf8(fromBase64Url(body ?? '')))
}
