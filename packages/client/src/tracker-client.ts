import {
  type AccountView,
  type BeginUploadRequest,
  type BeginUploadResponse,
  type ChangePasswordRequest,
  type CommitSegmentRequest,
  type CommitUploadResponse,
  type ConfirmSignupRequest,
  type CreateShareRequest,
  type DeleteObjectResponse,
  type DownloadGrantsResponse,
  ErrorCode,
  errorFromCode,
  type InfoResponse,
  type Invoice,
  type ListObjectsQuery,
  type ListObjectsResponse,
  type ListSharesResponse,
  type ListVersionsResponse,
  type LoginRequest,
  MAX_GRANT_SEGMENTS,
  type NodesResponse,
  type ObjectInfo,
  type ObjectSummary,
  type OpenObjectResponse,
  type PayoutsResponse,
  type PlaceSegmentRequest,
  type PlaceSegmentResponse,
  type RecoveryRequest,
  type RecoveryResetRequest,
  type RecoveryResponse,
  type SessionResponse,
  type SetRecoveryRequest,
  type ShareGrantsRequest,
  type ShareInfo,
  type ShareView,
  ShoalError,
  type SignupPendingResponse,
  type SignupRequest,
  type UpdateObjectRequest,
  type UpdateShareRequest,
  type UploadStatus,
  type UsageResponse,
  type VersionPolicyResponse,
  type VersionPolicyView
} from '@shoal/core'
import { type TrackerAnswer, trackerRequest } from '#tracker-http'

export interface TrackerClientInit {
  url: string
  token?: string
  /** Per-request timeout. */
  timeoutMs?: number
}

interface RequestOptions {
  signal?: AbortSignal
}

/** Typed client for the tracker's HTTP API (see `wire/tracker-api.ts` in @shoal/core). */
export class TrackerClient {
  readonly url: string
  token: string | undefined
  readonly #timeoutMs: number

  constructor(init: TrackerClientInit) {
    this.url = init.url.replace(/\/+$/, '')
    this.token = init.token
    this.#timeoutMs = init.timeoutMs ?? 30_000
    try {
      new URL(this.url)
    } catch {
      throw new ShoalError(ErrorCode.INVALID_INPUT, `tracker URL "${init.url}" is not a URL`)
    }
  }

  async #request<T>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    const signals = [AbortSignal.timeout(this.#timeoutMs)]
    if (options?.signal !== undefined) signals.push(options.signal)
    const headers: Record<string, string> = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    let response: TrackerAnswer
    try {
      response = await trackerRequest(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.any(signals)
      })
    } catch (cause) {
      options?.signal?.throwIfAborted()
      throw new ShoalError(ErrorCode.TRACKER_UNREACHABLE, `cannot reach the tracker at ${this.url}`, { cause })
    }
    const { text } = response
    let json: unknown
    try {
      json = text.length === 0 ? undefined : JSON.parse(text)
    } catch {
      json = undefined
    }
    if (response.status < 200 || response.status > 299) {
      const error = (json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error
      if (error === undefined) {
        throw new ShoalError(ErrorCode.PROTOCOL, `tracker answered ${method} ${path} with HTTP ${response.status}`)
      }
      throw errorFromCode(error.code, error.message, error.details)
    }
    return json as T
  }

  info(options?: RequestOptions): Promise<InfoResponse> {
    return this.#request('GET', '/v1/info', undefined, options)
  }
  /** A session, or (the tracker verifies emails) word that a code was mailed: then confirmSignup. */
  signup(body: SignupRequest, options?: RequestOptions): Promise<SessionResponse | SignupPendingResponse> {
    return this.#request('POST', '/v1/accounts', body, options)
  }
  /** The emailed code of a sign-up: the account is made and its first session opened. */
  confirmSignup(body: ConfirmSignupRequest, options?: RequestOptions): Promise<SessionResponse> {
    return this.#request('POST', '/v1/accounts/confirm', body, options)
  }
  login(body: LoginRequest, options?: RequestOptions): Promise<SessionResponse> {
    return this.#request('POST', '/v1/sessions', body, options)
  }
  /** Ends this session on the tracker, or every session of the account (`everywhere`). */
  logout(everywhere = false, options?: RequestOptions): Promise<{ loggedOut: number }> {
    return this.#request('DELETE', everywhere ? '/v1/sessions' : '/v1/sessions/current', undefined, options)
  }
  account(options?: RequestOptions): Promise<AccountView> {
    return this.#request('GET', '/v1/account', undefined, options)
  }
  changePassword(body: ChangePasswordRequest, options?: RequestOptions): Promise<SessionResponse> {
    return this.#request('PUT', '/v1/account/password', body, options)
  }
  setRecovery(body: SetRecoveryRequest, options?: RequestOptions): Promise<AccountView> {
    return this.#request('PUT', '/v1/account/recovery', body, options)
  }
  recoveryWrap(body: RecoveryRequest, options?: RequestOptions): Promise<RecoveryResponse> {
    return this.#request('POST', '/v1/recovery', body, options)
  }
  recoveryReset(body: RecoveryResetRequest, options?: RequestOptions): Promise<SessionResponse> {
    return this.#request('POST', '/v1/recovery/reset', body, options)
  }
  nodes(options?: RequestOptions): Promise<NodesResponse> {
    return this.#request('GET', '/v1/nodes', undefined, options)
  }
  beginUpload(body: BeginUploadRequest, options?: RequestOptions): Promise<BeginUploadResponse> {
    return this.#request('POST', '/v1/uploads', body, options)
  }
  placeSegment(
    id: string,
    index: number,
    body: PlaceSegmentRequest,
    options?: RequestOptions
  ): Promise<PlaceSegmentResponse> {
    return this.#request('POST', `/v1/uploads/${enc(id)}/segments/${index}/place`, body, options)
  }
  commitSegment(id: string, index: number, body: CommitSegmentRequest, options?: RequestOptions): Promise<unknown> {
    return this.#request('POST', `/v1/uploads/${enc(id)}/segments/${index}/commit`, body, options)
  }
  commitUpload(id: string, options?: RequestOptions): Promise<CommitUploadResponse> {
    return this.#request('POST', `/v1/uploads/${enc(id)}/commit`, {}, options)
  }
  uploadStatus(id: string, options?: RequestOptions): Promise<UploadStatus> {
    return this.#request('GET', `/v1/uploads/${enc(id)}`, undefined, options)
  }
  abortUpload(id: string, options?: RequestOptions): Promise<unknown> {
    return this.#request('DELETE', `/v1/uploads/${enc(id)}`, undefined, options)
  }
  /** One page of the account's objects; pass `next` back as `after` for the following page. */
  listObjects(options?: RequestOptions & ListObjectsQuery): Promise<ListObjectsResponse> {
    return this.#request('GET', `/v1/objects${pageQuery(options)}`, undefined, options)
  }

  /** Every object of the account, a page at a time (the tracker never sends the whole listing at once). */
  listAllObjects(options?: RequestOptions & { limit?: number }): AsyncGenerator<ObjectSummary[]> {
    return followPages(async (after) => {
      const page = await this.listObjects({ ...options, ...(after === undefined ? {} : { after }) })
      return { items: page.objects, next: page.next }
    })
  }
  /** One page of the older versions of the file `id`, newest first; pass `next` back as `after`. */
  listVersions(id: string, options?: RequestOptions & ListObjectsQuery): Promise<ListVersionsResponse> {
    return this.#request('GET', `/v1/objects/${enc(id)}/versions${pageQuery(options)}`, undefined, options)
  }
  /** Every older version of the file `id`, newest first, a page at a time. */
  listAllVersions(id: string, options?: RequestOptions & { limit?: number }): AsyncGenerator<ObjectInfo[]> {
    return followPages(async (after) => {
      const page = await this.listVersions(id, { ...options, ...(after === undefined ? {} : { after }) })
      return { items: page.versions, next: page.next }
    })
  }
  /** Makes an older version its file's current object under `meta`; the current one becomes a version. */
  restoreVersion(versionId: string, meta: string, options?: RequestOptions): Promise<ObjectSummary> {
    return this.#request('POST', `/v1/objects/${enc(versionId)}/restore`, { meta }, options)
  }
  versionPolicy(options?: RequestOptions): Promise<VersionPolicyResponse> {
    return this.#request('GET', '/v1/account/versions', undefined, options)
  }
  setVersionPolicy(policy: VersionPolicyView, options?: RequestOptions): Promise<VersionPolicyResponse> {
    return this.#request('PUT', '/v1/account/versions', policy, options)
  }
  objectByName(nameHash: string, options?: RequestOptions): Promise<ObjectInfo> {
    return this.#request('GET', `/v1/objects/by-name/${enc(nameHash)}`, undefined, options)
  }
  /** The object named `nameHash` and grants for its first `first` segments: a download's first call. */
  openObject(
    nameHash: string,
    first: number,
    options?: RequestOptions & { receiptKey?: string | undefined }
  ): Promise<OpenObjectResponse> {
    const body = options?.receiptKey === undefined ? { first } : { first, receiptKey: options.receiptKey }
    return this.#request('POST', `/v1/objects/by-name/${enc(nameHash)}/grants`, body, options)
  }
  /** Most segments one downloadGrants call may ask for: the download engine asks in batches of this size. */
  get maxGrantSegments(): number {
    return MAX_GRANT_SEGMENTS
  }
  /** With `receiptKey`, every grant carries it (download receipts, ReceiptBook). */
  downloadGrants(
    id: string,
    from: number,
    to: number,
    options?: RequestOptions & { receiptKey?: string | undefined }
  ): Promise<DownloadGrantsResponse> {
    const body = options?.receiptKey === undefined ? { from, to } : { from, to, receiptKey: options.receiptKey }
    return this.#request('POST', `/v1/objects/${enc(id)}/grants`, body, options)
  }
  usage(period?: string, options?: RequestOptions): Promise<UsageResponse> {
    const query = period === undefined ? '' : `?period=${enc(period)}`
    return this.#request('GET', `/v1/account/usage${query}`, undefined, options)
  }
  invoices(options?: RequestOptions): Promise<{ invoices: Invoice[] }> {
    return this.#request('GET', '/v1/account/invoices', undefined, options)
  }
  invoice(period: string, options?: RequestOptions): Promise<Invoice> {
    return this.#request('GET', `/v1/account/invoices/${enc(period)}`, undefined, options)
  }
  payouts(peerId: string, options?: RequestOptions): Promise<PayoutsResponse> {
    return this.#request('GET', `/v1/nodes/${enc(peerId)}/payouts`, undefined, options)
  }
  deleteObject(id: string, options?: RequestOptions): Promise<DeleteObjectResponse> {
    return this.#request('DELETE', `/v1/objects/${enc(id)}`, undefined, options)
  }
  updateObject(id: string, body: UpdateObjectRequest, options?: RequestOptions): Promise<ObjectSummary> {
    return this.#request('PATCH', `/v1/objects/${enc(id)}`, body, options)
  }
  createShare(body: CreateShareRequest, options?: RequestOptions): Promise<ShareView> {
    return this.#request('POST', '/v1/shares', body, options)
  }
  listShares(options?: RequestOptions): Promise<ListSharesResponse> {
    return this.#request('GET', '/v1/shares', undefined, options)
  }
  updateShare(id: string, body: UpdateShareRequest, options?: RequestOptions): Promise<ShareView> {
    return this.#request('PATCH', `/v1/shares/${enc(id)}`, body, options)
  }
  revokeShare(id: string, options?: RequestOptions): Promise<ShareView> {
    return this.#request('DELETE', `/v1/shares/${enc(id)}`, undefined, options)
  }
  /** Public: no session needed. */
  shareInfo(id: string, options?: RequestOptions): Promise<ShareInfo> {
    return this.#request('GET', `/v1/shares/${enc(id)}`, undefined, options)
  }
  /** Public: no session needed; `authKey` for password-protected shares. */
  shareGrants(id: string, body: ShareGrantsRequest, options?: RequestOptions): Promise<DownloadGrantsResponse> {
    return this.#request('POST', `/v1/shares/${enc(id)}/grants`, body, options)
  }
}

/** `?after=&limit=` of a paged listing, or nothing. */
function pageQuery(options: ListObjectsQuery | undefined): string {
  const query = new URLSearchParams()
  if (options?.after !== undefined) query.set('after', options.after)
  if (options?.limit !== undefined) query.set('limit', String(options.limit))
  return query.toString() === '' ? '' : `?${query}`
}

/** Follows a paged listing's `next` to the end, a page at a time. */
async function* followPages<T>(
  page: (after: string | undefined) => Promise<{ items: T[]; next: string | undefined }>
): AsyncGenerator<T[]> {
  let after: string | undefined
  for (;;) {
    const { items, next } = await page(after)
    yield items
    if (next === undefined) return
    after = next
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment)
}
