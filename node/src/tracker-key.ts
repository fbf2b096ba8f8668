import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PublicKey } from '@libp2p/interface'
import {
  backoffMs,
  describeError,
  ErrorCode,
  fastPublicKey,
  fromBase64Url,
  type InfoResponse,
  ShoalError,
  sleep,
  toBase64Url
} from '@shoal/core'
import type { Logger } from 'pino'
import {
  PINNED_KEY_CHECK_TIMEOUT_MS,
  TRACKER_REQUEST_TIMEOUT_MS,
  TRACKER_RETRY_MAX_MS,
  TRACKER_RETRY_MIN_MS
} from './constants.ts'
import { writeFileAtomic } from './identity.ts'

/** The tracker's public key as first seen: base64url of its libp2p protobuf encoding, as in `/v1/info`. */
export const TRACKER_KEY_FILE = 'tracker.pub'

export function encodePublicKey(key: PublicKey): string {
  return toBase64Url(publicKeyToProtobuf(key))
}

export function decodePublicKey(text: string, what = 'tracker key'): PublicKey {
  try {
    // Fast: the node checks the tracker's signature on every grant it serves under.
    return fastPublicKey(publicKeyFromProtobuf(fromBase64Url(text.trim())))
  } catch (cause) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, `${what} is not a base64url libp2p public key`, { cause })
  }
}

/** `{tracker}/v1/...`, keeping any path prefix the tracker URL has. */
export function trackerEndpoint(trackerUrl: string, path: string): URL {
  return new URL(path, trackerUrl.endsWith('/') ? trackerUrl : `${trackerUrl}/`)
}

/** One `GET /v1/info` attempt; ERR_TRACKER_UNREACHABLE on any network or HTTP failure. */
export async function fetchTrackerInfo(trackerUrl: string, signal?: AbortSignal): Promise<InfoResponse> {
  const timeout = AbortSignal.timeout(TRACKER_REQUEST_TIMEOUT_MS)
  const url = trackerEndpoint(trackerUrl, 'v1/info')
  let body: unknown
  try {
    const res = await fetch(url, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    body = await res.json()
  } catch (cause) {
    signal?.throwIfAborted()
    throw new ShoalError(ErrorCode.TRACKER_UNREACHABLE, `cannot read ${url}: ${describeError(cause)}`, { cause })
  }
  const info = body as Partial<InfoResponse> | null
  if (info === null || typeof info !== 'object' || typeof info.publicKey !== 'string') {
    throw new ShoalError(ErrorCode.TRACKER_UNREACHABLE, `${url} did not answer with the tracker's info`)
  }
  return info as InfoResponse
}

export interface ResolveTrackerKeyInit {
  dataDir: string
  trackerUrl?: string
  /** Given by the operator or a test: used as is, and checked against the pin. */
  trackerPublicKey?: PublicKey
  signal?: AbortSignal
  logger?: Logger
}

/**
 * Finds the key that verifies grants. A node trusts the first key it sees (pinned in `DIR/tracker.pub`) and
 * refuses to start if the tracker later presents another one: grants signed by an impostor must not move data.
 * With a pin the node checks the tracker briefly and otherwise serves with the pinned key (downloads through
 * the DHT work while the tracker is down); without one it retries until the tracker answers or `signal` aborts.
 */
export async function resolveTrackerKey(init: ResolveTrackerKeyInit): Promise<PublicKey> {
  const pinPath = join(init.dataDir, TRACKER_KEY_FILE)
  const pinned = await readPin(pinPath)
  const mismatch = (found: PublicKey, source: string): ShoalError =>
    new ShoalError(
      ErrorCode.CONFLICT,
      `${source} has tracker key ${encodePublicKey(found)}, but this node pinned ${encodePublicKey(pinned as PublicKey)} in ${pinPath}; refusing to start (delete that file only if the tracker's key was replaced on purpose)`
    )

  if (init.trackerPublicKey !== undefined) {
    if (pinned !== undefined && !pinned.equals(init.trackerPublicKey))
      throw mismatch(init.trackerPublicKey, 'the configuration')
    if (pinned === undefined) await writeFileAtomic(pinPath, `${encodePublicKey(init.trackerPublicKey)}\n`)
    return init.trackerPublicKey
  }
  if (init.trackerUrl === undefined) {
    if (pinned !== undefined) return pinned
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'no tracker key: give a tracker URL or the tracker public key')
  }

  if (pinned !== undefined) {
    const check = AbortSignal.timeout(PINNED_KEY_CHECK_TIMEOUT_MS)
    let info: InfoResponse
    try {
      info = await fetchTrackerInfo(
        init.trackerUrl,
        init.signal === undefined ? check : AbortSignal.any([init.signal, check])
      )
    } catch (err) {
      init.signal?.throwIfAborted()
      init.logger?.warn(
        { err: describeError(err) },
        'tracker unreachable at start: serving with the pinned tracker key'
      )
      return pinned
    }
    const found = decodePublicKey(info.publicKey)
    if (!found.equals(pinned)) throw mismatch(found, `the tracker at ${init.trackerUrl}`)
    return pinned
  }

  for (let attempt = 0; ; attempt++) {
    try {
      const info = await fetchTrackerInfo(init.trackerUrl, init.signal)
      const key = decodePublicKey(info.publicKey)
      await writeFileAtomic(pinPath, `${encodePublicKey(key)}\n`)
      init.logger?.info({ tracker: init.trackerUrl, key: encodePublicKey(key) }, 'pinned the tracker key')
      return key
    } catch (err) {
      if (init.signal?.aborted === true) throw new ShoalError(ErrorCode.ABORTED, 'start aborted', { cause: err })
      if (!(err instanceof ShoalError) || err.code !== ErrorCode.TRACKER_UNREACHABLE) throw err
      const wait = backoffMs(attempt, TRACKER_RETRY_MIN_MS, TRACKER_RETRY_MAX_MS)
      init.logger?.warn({ err: err.message, retryInMs: wait }, 'tracker unreachable: waiting for it before serving')
      await sleep(wait, init.signal)
    }
  }
}

async function readPin(path: string): Promise<PublicKey | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined
    throw err
  }
  return decodePublicKey(text, path)
}
