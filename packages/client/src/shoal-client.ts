import type { Libp2p } from '@libp2p/interface'
import {
  AccountKeyring,
  type AccountView,
  type CreateShareRequest,
  checkKdf,
  DEFAULT_KDF,
  derivePasswordKeys,
  deriveRecoveryKeys,
  deriveSharePasswordKeys,
  ErrorCode,
  formatShareFragment,
  fromBase64Url,
  generateMasterKey,
  generateRecoveryKey,
  generateShareSalt,
  type InfoResponse,
  isShoalError,
  type KdfParams,
  type ObjectInfo,
  type ObjectMetadata,
  type OpenObjectResponse,
  parseRecoveryKey,
  type RecoveryWrap,
  type SessionResponse,
  type ShareView,
  ShoalError,
  type SignupPendingResponse,
  sealShareMetadata,
  toBase64Url,
  unwrapMasterKey,
  type VersionPolicyResponse,
  type VersionPolicyView,
  wrapMasterKey,
  wrapShareKey
} from '@shoal/core'
import { createCodecEngine } from '#codec-engine'
import { forEachBounded } from './bounded.ts'
import type { CodecEngine } from './codec/segment-worker.ts'
import { DOWNLOAD_DEFAULTS, type DownloadOptions, downloadObject } from './download.ts'
import { checkPath } from './names.ts'
import { NodeRates } from './node-rates.ts'
import { type ClientPeerInit, createClientPeer } from './p2p/client-peer.ts'
import { NodeLocator } from './p2p/node-locator.ts'
import { deletePiece } from './p2p/piece-client.ts'
import { ReceiptBook, ReceiptSigner } from './receipts.ts'
import { TrackerClient } from './tracker-client.ts'
import { UnreachableNodes } from './unreachable-nodes.ts'
import { type UploadOptions, uploadObject } from './upload.ts'

/** Everything a client needs to act for an account later. Holds the master key: store it like a password. */
export interface SavedSession {
  tracker: string
  email: string
  token: string
  /** base64url master key; never sent anywhere. */
  masterKey: string
}

export interface Credentials {
  tracker: string
  email: string
  password: string
}

/** What `ShoalClient.signup` needs: the credentials, and a way to ask for the emailed code if there is one. */
export interface SignupCredentials extends Credentials {
  /**
   * Asked for the code the tracker mailed, when it verifies emails (`/v1/info` says `verifyEmail`). Without it,
   * such a sign-up stops with ERR_VERIFICATION_REQUIRED (details: email, expiresAt) once the code is sent:
   * finish it with `ShoalClient.confirmSignup`.
   */
  code?: (pending: SignupPendingResponse) => Promise<string>
}

/** What `ShoalClient.recover` needs: the recovery key in place of the forgotten password, and the new one. */
export interface RecoveryCredentials {
  tracker: string
  email: string
  recoveryKey: string
  newPassword: string
}

export interface ObjectEntry {
  id: string
  name: string
  size: number
  createdAt: number
  mime?: string
  /** Everything the sealed metadata holds (thumbnail, trash state, ...). */
  meta: ObjectMetadata
}

/** One version of a file: the current one (`current`) or an older one, replaced at `supersededAt`. */
export interface VersionEntry extends ObjectEntry {
  current: boolean
  supersededAt?: number
}

export interface ShoalClientInit {
  log?: (line: string) => void
  /**
   * Where sealing, coding and hashing run: 'workers' (default in Node: worker threads, so both cores work),
   * 'local' (the calling thread), or an engine of your own.
   */
  codec?: 'workers' | 'local' | CodecEngine
  /** Worker threads (Web Workers) for the 'workers' codec; default one per core but one, at least 1, at most 4. */
  workers?: number
  /** libp2p tuning for the client's connections to nodes. */
  peer?: ClientPeerInit
  /** Defaults for every download and upload of this client; per-call options win. */
  download?: Omit<DownloadOptions, 'signal' | 'onProgress' | 'offset' | 'length'>
  upload?: Pick<UploadOptions, 'segmentWindow' | 'placementAttempts'>
  /** A tracker client of your own for `resume` (e.g. with a custom timeout); it gets the session's token. */
  trackerClient?: TrackerClient
  /**
   * Node rates measured by earlier runs (`NodeRates.fromJSON` of a saved `client.nodeRates`): downloads start
   * from them. The `shoal` command keeps them in its home folder.
   */
  nodeRates?: NodeRates
}

/**
 * The Shoal SDK: one signed-in account. Files are sealed and erasure-coded here and travel straight between this
 * client and the storage nodes; the tracker sees only sealed names, sizes and placements.
 *
 * @example
 * ```ts
 * const shoal = await ShoalClient.signup({ tracker: 'http://127.0.0.1:7070', email, password })
 * await shoal.put('notes.txt', [new TextEncoder().encode('hello')], 5)
 * for await (const chunk of (await shoal.get('notes.txt')).stream) process.stdout.write(chunk)
 * await shoal.stop()
 * ```
 */
export class ShoalClient {
  readonly tracker: TrackerClient
  readonly email: string
  readonly #masterKey: Uint8Array
  readonly #keyring: AccountKeyring
  readonly #log: (line: string) => void
  readonly #init: ShoalClientInit
  #peer: Promise<Libp2p> | undefined
  /** Finds nodes that moved, on a DHT peer of its own started on the first lookup. */
  readonly #locator: NodeLocator
  #codecs: CodecEngine | undefined
  #receipts: Promise<ReceiptBook> | undefined
  /** Nodes that failed a dial, remembered across this client's downloads. */
  readonly #unreachable = new UnreachableNodes()
  /** Rates this client measured from nodes, shared by its downloads; save `toJSON()` to keep them across runs. */
  readonly nodeRates: NodeRates
  /**
   * The recovery key made at sign-up, for the caller to show once (it is kept nowhere else: not here after this
   * client, not on the tracker). Undefined on a client that logged in.
   */
  recoveryKey: string | undefined

  private constructor(
    tracker: TrackerClient,
    email: string,
    masterKey: Uint8Array,
    keyring: AccountKeyring,
    init: ShoalClientInit
  ) {
    this.tracker = tracker
    this.email = email
    this.#masterKey = masterKey
    this.#keyring = keyring
    this.#log = init.log ?? (() => {})
    this.#init = init
    this.nodeRates = init.nodeRates ?? new NodeRates()
    this.#locator = new NodeLocator(this.#getPeer, init.peer, (peerId) => this.#unreachable.isDown(peerId))
  }

  /**
   * Creates an account. A recovery key is made with it (its wrap of the master key goes to the tracker): show
   * `client.recoveryKey` to the user once; it is the only way back in after a forgotten password.
   */
  static async signup(credentials: SignupCredentials, init: ShoalClientInit = {}): Promise<ShoalClient> {
    const tracker = new TrackerClient({ url: credentials.tracker })
    const info = await tracker.info()
    const keys = await derivePasswordKeys(credentials.email, credentials.password, trackerKdf(info))
    const masterKey = generateMasterKey()
    const recoveryKey = generateRecoveryKey()
    const answer = await tracker.signup({
      email: credentials.email,
      authKey: keys.authKey,
      wrappedMasterKey: await wrapMasterKey(keys.kek, masterKey),
      recovery: await recoveryWrap(recoveryKey, masterKey)
    })
    const session = 'verification' in answer ? await ShoalClient.#confirm(tracker, answer, credentials.code) : answer
    const client = await ShoalClient.#open(tracker, session, masterKey, init)
    client.recoveryKey = recoveryKey
    return client
  }

  static async #confirm(
    tracker: TrackerClient,
    pending: SignupPendingResponse,
    ask: SignupCredentials['code']
  ): Promise<SessionResponse> {
    if (ask === undefined) {
      throw new ShoalError(
        ErrorCode.VERIFICATION_REQUIRED,
        `a code was mailed to ${pending.email}: confirm the sign-up with it`,
        { details: { email: pending.email, expiresAt: pending.expiresAt } }
      )
    }
    return tracker.confirmSignup({ email: pending.email, code: await ask(pending) })
  }

  /**
   * Finishes a sign-up with its emailed code in a later run than the one that signed up (`shoal signup --code`):
   * the password opens the master key, and a new recovery key replaces the one made at sign-up, which that run
   * never showed: read it from `recoveryKey` and show it once.
   */
  static async confirmSignup(credentials: Credentials, code: string, init: ShoalClientInit = {}): Promise<ShoalClient> {
    const tracker = new TrackerClient({ url: credentials.tracker })
    const keys = await derivePasswordKeys(credentials.email, credentials.password, trackerKdf(await tracker.info()))
    const session = await tracker.confirmSignup({ email: credentials.email, code })
    const masterKey = await unwrapMasterKey(keys.kek, session.wrappedMasterKey)
    const client = await ShoalClient.#open(tracker, session, masterKey, init)
    client.recoveryKey = await client.newRecoveryKey(credentials.password)
    return client
  }

  /**
   * Sets a new password with the recovery key, for a forgotten one. The tracker hands out the master key's
   * recovery wrap only to the recovery key's auth key, and the wrap opens only with the recovery key itself: it
   * learns nothing it could decrypt with. Every other session of the account ends.
   */
  static async recover(credentials: RecoveryCredentials, init: ShoalClientInit = {}): Promise<ShoalClient> {
    const tracker = new TrackerClient({ url: credentials.tracker })
    const recovery = await deriveRecoveryKeys(parseRecoveryKey(credentials.recoveryKey))
    const request = { email: credentials.email, recoveryAuthKey: recovery.authKey }
    const { wrappedMasterKey } = await tracker.recoveryWrap(request)
    const masterKey = await unwrapMasterKey(recovery.kek, wrappedMasterKey)
    const keys = await derivePasswordKeys(credentials.email, credentials.newPassword, trackerKdf(await tracker.info()))
    const session = await tracker.recoveryReset({
      ...request,
      authKey: keys.authKey,
      wrappedMasterKey: await wrapMasterKey(keys.kek, masterKey)
    })
    return ShoalClient.#open(tracker, session, masterKey, init)
  }

  static async login(credentials: Credentials, init: ShoalClientInit = {}): Promise<ShoalClient> {
    const tracker = new TrackerClient({ url: credentials.tracker })
    const info: InfoResponse = await tracker.info()
    const keys = await derivePasswordKeys(credentials.email, credentials.password, trackerKdf(info))
    const session = await tracker.login({ email: credentials.email, authKey: keys.authKey })
    const masterKey = await unwrapMasterKey(keys.kek, session.wrappedMasterKey)
    return ShoalClient.#open(tracker, session, masterKey, init)
  }

  static async resume(saved: SavedSession, init: ShoalClientInit = {}): Promise<ShoalClient> {
    const tracker = init.trackerClient ?? new TrackerClient({ url: saved.tracker })
    tracker.token = saved.token
    const masterKey = fromBase64Url(saved.masterKey)
    return new ShoalClient(tracker, saved.email, masterKey, await AccountKeyring.fromMasterKey(masterKey), init)
  }

  static async #open(tracker: TrackerClient, session: SessionResponse, masterKey: Uint8Array, init: ShoalClientInit) {
    tracker.token = session.token
    return new ShoalClient(
      tracker,
      session.account.email,
      masterKey,
      await AccountKeyring.fromMasterKey(masterKey),
      init
    )
  }

  /**
   * Changes the password: the master key is rewrapped here under the new password's key, so no file key
   * changes and nothing is re-uploaded. The current password proves it is the owner (a stolen session token is
   * not enough). Every session of the account ends, other devices included; this client gets a new one.
   */
  async changePassword(current: string, next: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const kdf = trackerKdf(await this.tracker.info(options))
    const [old, keys] = await Promise.all([
      derivePasswordKeys(this.email, current, kdf),
      derivePasswordKeys(this.email, next, kdf)
    ])
    const session = await this.tracker.changePassword(
      {
        authKey: old.authKey,
        newAuthKey: keys.authKey,
        wrappedMasterKey: await wrapMasterKey(keys.kek, this.#masterKey)
      },
      options
    )
    this.tracker.token = session.token
  }

  /** Makes a new recovery key (the old one stops working) and returns it, to show the user once. */
  async newRecoveryKey(password: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const keys = await derivePasswordKeys(this.email, password, trackerKdf(await this.tracker.info(options)))
    const recoveryKey = generateRecoveryKey()
    await this.tracker.setRecovery(
      { authKey: keys.authKey, recovery: await recoveryWrap(recoveryKey, this.#masterKey) },
      options
    )
    return recoveryKey
  }

  session(): SavedSession {
    if (this.tracker.token === undefined) throw new ShoalError(ErrorCode.UNAUTHORIZED, 'not signed in')
    return {
      tracker: this.tracker.url,
      email: this.email,
      token: this.tracker.token,
      masterKey: toBase64Url(this.#masterKey)
    }
  }

  /** The libp2p node starts on first transfer, not at sign-in. */
  #getPeer = (): Promise<Libp2p> => {
    this.#peer ??= createClientPeer(this.#init.peer)
    return this.#peer
  }

  #getCodecs(): CodecEngine {
    const choice = this.#init.codec ?? 'workers'
    this.#codecs ??= typeof choice === 'object' ? choice : createCodecEngine(choice, this.#init.workers)
    return this.#codecs
  }

  /** Starts the libp2p node and the codec ahead of a transfer; errors surface in the transfer itself. */
  warm(): void {
    this.#getPeer().catch(() => {})
    this.#getCodecs()
      .warm()
      .catch(() => {})
  }

  #getReceipts(): Promise<ReceiptBook> {
    this.#receipts ??= ReceiptSigner.create().then((signer) => new ReceiptBook(signer, this.#getPeer))
    return this.#receipts
  }

  async stop(): Promise<void> {
    // Receipts go to the nodes before the peer that carries them stops (a node is paid for what it served).
    const receipts = this.#receipts
    this.#receipts = undefined
    if (receipts !== undefined && this.#peer !== undefined) await (await receipts).flush()
    const peer = this.#peer
    const codecs = this.#codecs
    this.#peer = undefined
    this.#codecs = undefined
    if (peer !== undefined) await (await peer).stop()
    await this.#locator.stop()
    if (codecs !== undefined && codecs !== this.#init.codec) await codecs.stop()
  }

  async usage(): Promise<AccountView> {
    return this.tracker.account()
  }

  async put(
    name: string,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    size: number,
    options: UploadOptions = {}
  ) {
    // A script's "a//b", "/a" or "a/../b" would make empty or unreachable folders: refused before anything moves.
    checkPath(name)
    this.warm()
    const iterable = Symbol.asyncIterator in source ? source : toAsync(source)
    return uploadObject(
      {
        tracker: this.tracker,
        peer: this.#getPeer,
        keyring: this.#keyring,
        codecs: this.#getCodecs(),
        log: this.#log,
        unreachable: this.#unreachable
      },
      name,
      iterable,
      size,
      { ...this.#init.upload, ...options }
    )
  }

  async stat(name: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    return namedLookup(name, this.tracker.objectByName(await this.#keyring.nameHash(name), options))
  }

  /**
   * Opens a download: `stream` yields plaintext in order, verified and decrypted. With `version` (an id from
   * `versions`), that version of the file.
   */
  async get(
    name: string,
    options: DownloadOptions & { version?: string } = {}
  ): Promise<{ object: ObjectEntry; stream: AsyncIterable<Uint8Array> }> {
    // Start libp2p and the codec threads while the tracker answers: they would otherwise delay the first byte.
    this.warm()
    const settings = { ...this.#init.download, ...options }
    const receipts = await this.#getReceipts()
    // A whole file's download asks for the object and its first segments' grants in one call (one round trip
    // to the tracker before the nodes are dialled, not two); a version or a range looks the object up first.
    const opened =
      options.version === undefined && (options.offset ?? 0) === 0
        ? await this.#openForDownload(name, settings.segmentWindow ?? DOWNLOAD_DEFAULTS.segmentWindow, {
            ...options,
            receiptKey: receipts.receiptKey
          })
        : undefined
    const info =
      opened?.object ??
      (options.version === undefined
        ? await this.stat(name, options)
        : await this.statVersion(name, options.version, options))
    const meta = await this.#keyring.openMetadata(info.meta)
    const contentKey = await this.#keyring.unwrapContentKey(info.wrappedKey)
    const stream = downloadObject(
      {
        tracker: this.tracker,
        peer: this.#getPeer,
        codecs: this.#getCodecs(),
        locate: this.#locator.locate,
        receipts,
        unreachable: this.#unreachable,
        rates: this.nodeRates
      },
      info,
      contentKey,
      settings,
      opened?.segments
    )
    return { object: entry(info.id, info.size, info.createdAt, meta), stream }
  }

  /**
   * The object named `name` with grants for its first `first` segments, or undefined from a tracker older than
   * that call (its "no route" answer): the caller then looks the object up and asks for grants on its own.
   */
  async #openForDownload(
    name: string,
    first: number,
    options: { signal?: AbortSignal; receiptKey: string }
  ): Promise<OpenObjectResponse | undefined> {
    try {
      return await namedLookup(name, this.tracker.openObject(await this.#keyring.nameHash(name), first, options))
    } catch (err) {
      if (isShoalError(err, ErrorCode.NOT_FOUND)) return undefined
      throw err
    }
  }

  /**
   * The versions of a file, the current one first, then the older ones newest first (docs/versions.md). Each
   * carries the file's current name; `meta` is the version's own (its size, type and thumbnail).
   */
  async versions(name: string, options: { signal?: AbortSignal } = {}): Promise<VersionEntry[]> {
    const info = await this.stat(name, options)
    const meta = await this.#keyring.openMetadata(info.meta)
    const list: VersionEntry[] = [{ ...entry(info.id, info.size, info.createdAt, meta), current: true }]
    for await (const page of this.tracker.listAllVersions(info.id, options)) {
      for (const v of page) {
        const own = await this.#keyring.openMetadata(v.meta)
        list.push({
          ...entry(v.id, v.size, v.createdAt, own),
          name: meta.name,
          current: false,
          ...(v.supersededAt === undefined ? {} : { supersededAt: v.supersededAt })
        })
      }
    }
    return list
  }

  /**
   * Makes an older version the current one; the current one becomes a version, so nothing is lost. The version
   * takes the file's present name (and trash state): its metadata is re-sealed here, the tracker cannot.
   */
  async restore(name: string, versionId: string, options: { signal?: AbortSignal } = {}): Promise<ObjectEntry> {
    const current = await this.stat(name, options)
    if (versionId === current.id) {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `version ${versionId} is already the current one of "${name}"`)
    }
    const version = await this.#findVersion(name, current, versionId, options)
    const now = await this.#keyring.openMetadata(current.meta)
    const { trash: _old, ...own } = await this.#keyring.openMetadata(version.meta)
    const meta: ObjectMetadata = { ...own, name: now.name, ...(now.trash === undefined ? {} : { trash: now.trash }) }
    const restored = await this.tracker.restoreVersion(version.id, await this.#keyring.sealMetadata(meta), options)
    return entry(restored.id, restored.size, restored.createdAt, meta)
  }

  async versionPolicy(options: { signal?: AbortSignal } = {}): Promise<VersionPolicyResponse> {
    return this.tracker.versionPolicy(options)
  }

  /** How many older versions of each file to keep, and for how many days (`null`: no limit). */
  async setVersionPolicy(
    policy: VersionPolicyView,
    options: { signal?: AbortSignal } = {}
  ): Promise<VersionPolicyResponse> {
    return this.tracker.setVersionPolicy(policy, options)
  }

  /** A version of a file by its id (the current one's id gives the current one). */
  async statVersion(name: string, versionId: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    const current = await this.stat(name, options)
    return versionId === current.id ? current : this.#findVersion(name, current, versionId, options)
  }

  async #findVersion(
    name: string,
    current: ObjectInfo,
    versionId: string,
    options: { signal?: AbortSignal }
  ): Promise<ObjectInfo> {
    for await (const page of this.tracker.listAllVersions(current.id, options)) {
      const found = page.find((v) => v.id === versionId)
      if (found !== undefined) return found
    }
    throw new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `"${name}" has no version ${versionId}`)
  }

  /** Every file, sorted by name: the tracker's pages followed to the end, each page opened as it arrives. */
  async list(options: { signal?: AbortSignal } = {}): Promise<ObjectEntry[]> {
    const entries: ObjectEntry[] = []
    for await (const page of this.listPages(options)) entries.push(...page)
    return entries.sort((a, b) => a.name.localeCompare(b.name))
  }

  /** The files a page at a time, in the tracker's order (by name hash): for listings shown as they load. */
  async *listPages(options: { signal?: AbortSignal; limit?: number } = {}): AsyncGenerator<ObjectEntry[]> {
    for await (const objects of this.tracker.listAllObjects(options)) {
      yield await Promise.all(
        objects.map(async (o) => entry(o.id, o.size, o.createdAt, await this.#keyring.openMetadata(o.meta)))
      )
    }
  }

  /**
   * Renames or moves a file (a name is a path): the pieces stay where they are; only the keyed name hash and the
   * sealed metadata change. `patch` changes other metadata in the same step (e.g. the trash state; `null`
   * removes a field). ERR_CONFLICT when `to` is taken.
   */
  async rename(
    from: string,
    to: string,
    patch: { [K in keyof ObjectMetadata]?: ObjectMetadata[K] | null } = {},
    options: { signal?: AbortSignal } = {}
  ): Promise<ObjectEntry> {
    checkPath(to)
    const info = await this.stat(from, options)
    const meta: Record<string, unknown> = { ...(await this.#keyring.openMetadata(info.meta)), name: to }
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete meta[key]
      else meta[key] = value
    }
    meta.name = to
    const next = meta as unknown as ObjectMetadata
    try {
      const summary = await this.tracker.updateObject(
        info.id,
        { nameHash: await this.#keyring.nameHash(to), meta: await this.#keyring.sealMetadata(next) },
        options
      )
      return entry(summary.id, summary.size, summary.createdAt, next)
    } catch (err) {
      if (isShoalError(err, ErrorCode.CONFLICT)) {
        throw new ShoalError(ErrorCode.CONFLICT, `a file named "${to}" already exists`, { cause: err })
      }
      throw err
    }
  }

  /**
   * Creates a share link for a file. Returns the share and the link's fragment (to append after `#` to
   * `<ui>/s/<share.id>`): it carries the file key, sealed under the password when there is one.
   */
  async share(
    name: string,
    options: { password?: string; expiresAt?: number; signal?: AbortSignal } = {}
  ): Promise<{ share: ShareView; fragment: string }> {
    const info = await this.stat(name, options)
    const meta = await this.#keyring.openMetadata(info.meta)
    const contentKey = await this.#keyring.unwrapContentKey(info.wrappedKey)
    const sealed = await sealShareMetadata(contentKey, {
      name: meta.name.slice(meta.name.lastIndexOf('/') + 1),
      size: info.size,
      ...(meta.mime === undefined ? {} : { mime: meta.mime })
    })
    let password: CreateShareRequest['password']
    let fragment: string
    if (options.password !== undefined && options.password.length > 0) {
      const salt = generateShareSalt()
      const keys = await deriveSharePasswordKeys(salt, options.password)
      password = { salt, authKey: keys.authKey }
      fragment = formatShareFragment({ kind: 'wrapped', wrapped: await wrapShareKey(keys.kek, contentKey) })
    } else {
      fragment = formatShareFragment({ kind: 'key', key: contentKey })
    }
    const share = await this.tracker.createShare(
      {
        objectId: info.id,
        meta: sealed,
        ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }),
        ...(password === undefined ? {} : { password })
      },
      options
    )
    return { share, fragment }
  }

  async listShares(options: { signal?: AbortSignal } = {}): Promise<ShareView[]> {
    return (await this.tracker.listShares(options)).shares
  }

  /** Changes a link's expiry (`null`: never expires); the link itself stays the same. */
  async setShareExpiry(id: string, expiresAt: number | null, options: { signal?: AbortSignal } = {}) {
    return this.tracker.updateShare(id, { expiresAt }, options)
  }

  async revokeShare(id: string, options: { signal?: AbortSignal } = {}): Promise<ShareView> {
    return this.tracker.revokeShare(id, options)
  }

  /**
   * Deletes an object: the tracker drops it at once (it stops counting against the quota) and the client tells
   * the holding nodes straight away; nodes that are offline hear it through their next heartbeat.
   */
  async remove(
    name: string,
    options: { signal?: AbortSignal } = {}
  ): Promise<{ piecesDeleted: number; piecesPending: number }> {
    const info = await this.stat(name, options)
    return this.#deleteObject(info.id, options)
  }

  /**
   * Deletes one older version of a file (docs/versions.md): its pieces go from the nodes as `remove`'s do, it
   * stops counting against the quota and being billed; the file and its other versions stay. The current
   * version is refused (ERR_INVALID_INPUT: `remove` deletes the file, `restore` another version first).
   */
  async deleteVersion(
    name: string,
    versionId: string,
    options: { signal?: AbortSignal } = {}
  ): Promise<{ piecesDeleted: number; piecesPending: number }> {
    const current = await this.stat(name, options)
    if (versionId === current.id) {
      throw new ShoalError(
        ErrorCode.INVALID_INPUT,
        `version ${versionId} is the current one of "${name}": delete the file, or restore another version first`
      )
    }
    const version = await this.#findVersion(name, current, versionId, options)
    return this.#deleteObject(version.id, options)
  }

  /** Deletes an object (a file with its versions, or one version) on the tracker and its pieces on the nodes. */
  async #deleteObject(
    id: string,
    options: { signal?: AbortSignal }
  ): Promise<{ piecesDeleted: number; piecesPending: number }> {
    const { deletes } = await this.tracker.deleteObject(id, options)
    if (deletes.length === 0) return { piecesDeleted: 0, piecesPending: 0 }
    const peer = await this.#getPeer()
    const byNode = new Map<string, typeof deletes>()
    for (const d of deletes) {
      const orders = byNode.get(d.node.peerId)
      if (orders === undefined) byNode.set(d.node.peerId, [d])
      else orders.push(d)
    }
    let deleted = 0
    await Promise.all(
      [...byNode.values()].map((orders) =>
        // A node takes a bounded number of delete streams per connection and refuses the rest: a few at a time
        // per node. After a failure the node's remaining orders are left to its heartbeats, like the failed one,
        // rather than each waiting out its own timeout: they are what `piecesPending` counts.
        forEachBounded(orders, DELETES_PER_NODE, async (d) => {
          try {
            await deletePiece(peer, d.node, { grant: d.grant, piece: d.piece }, { signal: AbortSignal.timeout(10_000) })
          } catch (err) {
            // The tracker hands the same delete grant to the node in its heartbeat: "already used" means done.
            if (!isShoalError(err, ErrorCode.GRANT_REPLAYED)) throw err
          }
          deleted++
        }).catch(() => undefined)
      )
    )
    return { piecesDeleted: deleted, piecesPending: deletes.length - deleted }
  }
}

/** Delete streams `rm` keeps open to one node at once: well below the 32 a node accepts per connection. */
const DELETES_PER_NODE = 8

/** The master key's second wrap, under the recovery key (deriveRecoveryKeys), and the auth key that guards it. */
async function recoveryWrap(recoveryKey: string, masterKey: Uint8Array): Promise<RecoveryWrap> {
  const keys = await deriveRecoveryKeys(parseRecoveryKey(recoveryKey))
  return { authKey: keys.authKey, wrappedMasterKey: await wrapMasterKey(keys.kek, masterKey) }
}

function entry(id: string, size: number, createdAt: number, meta: ObjectMetadata): ObjectEntry {
  return { id, name: meta.name, size, createdAt, meta, ...(meta.mime === undefined ? {} : { mime: meta.mime }) }
}

async function* toAsync(source: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* source
}

/**
 * The tracker's KDF parameters, held to the client's floor (checkKdf: ERR_KDF_TOO_WEAK below it): a tracker
 * serving weak parameters could brute-force the password from the auth key and unwrap the master key.
 */
function trackerKdf(info: InfoResponse): KdfParams {
  return checkKdf(info.kdf ?? DEFAULT_KDF)
}

/** A lookup by name whose "not found" names the file. */
async function namedLookup<T>(name: string, lookup: Promise<T>): Promise<T> {
  try {
    return await lookup
  } catch (err) {
    if (isShoalError(err, ErrorCode.OBJECT_NOT_FOUND)) {
      throw new ShoalError(ErrorCode.OBJECT_NOT_FOUND, `no file named "${name}"`, { cause: err })
    }
    throw err
  }
}
