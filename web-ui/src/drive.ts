import {
  degradedNote,
  type NodeRates,
  type SavedSession,
  ShoalClient,
  type ShoalClientInit,
  type SignupCredentials,
  TrackerClient
} from '@shoal/client'
import { ErrorCode, isShoalError } from '@shoal/core'
import { forgetDevice, rememberDevice, rememberedSession } from './device-session.ts'
import { keepNodeRates, loadNodeRates } from './node-rates-store.ts'
import { makeThumbnail } from './thumbs.ts'

const SESSION_KEY = 'shoal.session'

/**
 * The browser's client: everything goes through @shoal/client, which seals and erasure-codes on this device
 * (WebCrypto AES-GCM, the WASM Reed-Solomon) and moves pieces straight between this page and the storage nodes
 * over libp2p WebSockets. The codec runs in Web Workers, so sealing and coding a big transfer do not freeze the page.
 */
const CLIENT_INIT: ShoalClientInit = { codec: 'workers' }

let pageRates: NodeRates | undefined

/** The page's client settings, with the node rates of earlier visits (loaded once, written back as the page goes). */
function clientInit(): ShoalClientInit {
  if (pageRates === undefined) {
    pageRates = loadNodeRates()
    keepNodeRates(pageRates)
  }
  return { ...CLIENT_INIT, nodeRates: pageRates }
}

export async function signIn(
  tracker: string,
  email: string,
  password: string,
  create: boolean,
  options: { rememberDevice?: boolean; code?: SignupCredentials['code'] } = {}
): Promise<ShoalClient> {
  const credentials = { tracker, email: email.trim(), password }
  const client = create
    ? await ShoalClient.signup(
        { ...credentials, ...(options.code === undefined ? {} : { code: options.code }) },
        clientInit()
      )
    : await ShoalClient.login(credentials, clientInit())
  remember(client.session())
  if (options.rememberDevice === true) await rememberDevice(client.session())
  else await forgetDevice()
  return client
}

/** Whether the tracker mails a code at sign-up (its /v1/info); false when it cannot be asked. */
export async function verifiesEmail(tracker: string): Promise<boolean> {
  try {
    return (await new TrackerClient({ url: tracker }).info()).verifyEmail === true
  } catch {
    return false
  }
}

/** Sets a new password with the recovery key (ShoalClient.recover) and signs in, as `signIn` does. */
export async function recoverAccount(
  tracker: string,
  email: string,
  recoveryKey: string,
  newPassword: string
): Promise<ShoalClient> {
  const client = await ShoalClient.recover({ tracker, email: email.trim(), recoveryKey, newPassword }, clientInit())
  remember(client.session())
  await forgetDevice()
  return client
}

/** Changes the password; the new session replaces the old one wherever this browser kept it. */
export async function changePassword(client: ShoalClient, current: string, next: string): Promise<void> {
  const remembered = (await rememberedSession(client.tracker.url)) !== undefined
  await client.changePassword(current, next)
  remember(client.session())
  if (remembered) await rememberDevice(client.session())
}

/**
 * By default the session (token and master key) lives in this tab's sessionStorage only: closing the tab
 * forgets it, and it never reaches a server. With "Remember this device" it is also kept, encrypted, for other
 * tabs and later visits (device-session.ts).
 */
export async function resumeSession(tracker: string): Promise<ShoalClient | undefined> {
  const text = sessionStorage.getItem(SESSION_KEY)
  const fromTab = text === null ? undefined : (JSON.parse(text) as SavedSession)
  const saved = fromTab?.tracker === tracker ? fromTab : await rememberedSession(tracker)
  if (saved === undefined) return undefined
  try {
    const client = await ShoalClient.resume(saved, clientInit())
    await client.usage()
    remember(saved)
    return client
  } catch {
    // Expired or revoked (signed out elsewhere): forget it here so the next visit asks for the password.
    sessionStorage.removeItem(SESSION_KEY)
    if (saved !== fromTab) await forgetDevice()
    return undefined
  }
}

function remember(session: SavedSession): void {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session))
}

/** Ends the session on the tracker too, so a token left behind in this browser no longer works. */
export async function signOut(client: ShoalClient): Promise<void> {
  sessionStorage.removeItem(SESSION_KEY)
  await forgetDevice()
  // Signing out must work offline as well: the session then simply expires on the tracker.
  await client.tracker.logout().catch(() => {})
  await client.stop().catch(() => {})
}

/**
 * An error as a person reads it (`explain`), still carrying what actually went wrong: the transfers panel shows
 * the friendly line and keeps the cause's own message for a tooltip and for bug reports.
 */
export function explained(err: unknown): Error {
  return new Error(explain(err), { cause: err })
}

/** Friendly text for what a person can act on; anything else keeps its own message. */
export function explain(err: unknown): string {
  if (isShoalError(err)) {
    switch (err.code) {
      case ErrorCode.WRONG_PASSWORD:
        return 'Wrong email or password.'
      case ErrorCode.WRONG_RECOVERY_KEY:
        return 'Wrong email or recovery key.'
      case ErrorCode.VERIFICATION_FAILED:
        return 'That code is wrong or has expired. Create the account again for a new one.'
      case ErrorCode.ACCOUNT_EXISTS:
        return 'An account with this email already exists. Sign in instead.'
      case ErrorCode.QUOTA_EXCEEDED:
        return 'Not enough space left in your plan for this file.'
      case ErrorCode.TRACKER_UNREACHABLE:
        return 'Cannot reach the Shoal tracker. Check your connection and try again.'
      case ErrorCode.NOT_ENOUGH_NODES:
        return 'Not enough storage nodes are online right now. Try again in a moment.'
      case ErrorCode.NOT_ENOUGH_PIECES:
        return 'Too many storage nodes holding this file are offline right now. Try again later.'
      case ErrorCode.UNAUTHORIZED:
        return 'Your session has ended. Sign in again.'
      case ErrorCode.SHARE_PASSWORD:
        return err.message === 'this link needs a password' ? 'This link needs a password.' : 'Wrong password.'
      case ErrorCode.SHARE_REVOKED:
        return 'This link was revoked by its owner.'
      case ErrorCode.SHARE_REMOVED:
        return 'This link was removed by the operator of this service.'
      case ErrorCode.SHARE_EXPIRED:
        return 'This link has expired.'
      case ErrorCode.SHARE_NOT_FOUND:
        return 'This link does not exist, or the shared file was deleted.'
      case ErrorCode.DECRYPT_FAILED:
        return 'This link is damaged or incomplete: its key does not open the file.'
      default:
        return err.message.charAt(0).toUpperCase() + err.message.slice(1)
    }
  }
  if (err instanceof Error) return err.message
  return String(err)
}

/** Reads a File as a stream of chunks, a bounded piece at a time: never the whole file in memory. */
export async function* readFile(file: Blob): AsyncGenerator<Uint8Array> {
  const reader = file.stream().getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      yield value
    }
  } finally {
    reader.releaseLock()
  }
}

export interface UploadRequest {
  file: File
  name: string
  /** Upload as the new version of the file already under `name` (the old one is kept as a version). */
  overwrite?: boolean
}

/**
 * Uploads one file. On cancel, the tracker is told to drop the upload at once so nothing stays reserved; on a
 * lost connection the upload id is kept so `resume` can continue where it stopped.
 */
export async function uploadFile(
  client: ShoalClient,
  request: UploadRequest,
  options: { signal: AbortSignal; progress: (bytes: number) => void; resume?: string; onStarted?: (id: string) => void }
): Promise<{ note?: string }> {
  const { file, name, overwrite } = request
  let uploadId: string | undefined = options.resume
  const thumb = options.resume === undefined ? await makeThumbnail(file) : undefined
  try {
    const result = await client.put(name, readFile(file), file.size, {
      meta: { taken: file.lastModified, ...(thumb === undefined ? {} : { thumb }) },
      signal: options.signal,
      onProgress: (p) => options.progress(p.bytes),
      onStarted: (id) => {
        uploadId = id
        options.onStarted?.(id)
      },
      ...(file.type === '' ? {} : { mime: file.type }),
      ...(overwrite === true ? { overwrite } : {}),
      ...(options.resume === undefined ? {} : { resume: options.resume })
    })
    if (result.degraded === undefined) return {}
    const note = degradedNote(result.degraded)
    return { note: note.charAt(0).toUpperCase() + note.slice(1) }
  } catch (err) {
    if (options.signal.aborted && uploadId !== undefined) await client.tracker.abortUpload(uploadId).catch(() => {})
    throw err
  }
}
