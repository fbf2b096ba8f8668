import { ErrorCode, ShoalError } from '../errors.ts'

/**
 * Piece protocol messages. Every request is one header frame; a put is followed by exactly `size` bytes; a
 * successful get response is followed by exactly `size` bytes. Failures are a header `{ ok: false, code, message }`
 * — a status code, never a stack trace.
 */
export interface PutRequest {
  grant: string
  piece: string
  size: number
}
export interface GetRequest {
  grant: string
  piece: string
  /** Byte range within the piece; defaults to the whole piece. */
  offset?: number
  length?: number
}
export interface DeleteRequest {
  grant: string
  piece: string
}
export interface PutResponse {
  ok: true
  receipt: string
}
export interface GetResponse {
  ok: true
  /** Bytes that follow the header. */
  size: number
  /** Size of the whole piece. */
  pieceSize: number
}
export interface DeleteResponse {
  ok: true
  existed: boolean
}
export interface ErrorResponse {
  ok: false
  code: string
  message: string
}

export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof ShoalError) return { ok: false, code: err.code, message: err.message }
  return { ok: false, code: ErrorCode.INTERNAL, message: 'internal error' }
}

function field<T>(frame: Record<string, unknown>, name: string, check: (v: unknown) => boolean, optional = false): T {
  const value = frame[name]
  if (value === undefined && optional) return value as T
  if (!check(value)) throw new ShoalError(ErrorCode.PROTOCOL, `request field "${name}" is missing or invalid`)
  return value as T
}

const isString = (v: unknown): boolean => typeof v === 'string' && v.length > 0 && v.length <= 4096
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0

export function parsePutRequest(frame: Record<string, unknown>): PutRequest {
  return {
    grant: field(frame, 'grant', isString),
    piece: field(frame, 'piece', isString),
    size: field(frame, 'size', isCount)
  }
}

export function parseGetRequest(frame: Record<string, unknown>): GetRequest {
  const req: GetRequest = { grant: field(frame, 'grant', isString), piece: field(frame, 'piece', isString) }
  const offset = field<number | undefined>(frame, 'offset', isCount, true)
  const length = field<number | undefined>(frame, 'length', isCount, true)
  if (offset !== undefined) req.offset = offset
  if (length !== undefined) req.length = length
  return req
}

export function parseDeleteRequest(frame: Record<string, unknown>): DeleteRequest {
  return { grant: field(frame, 'grant', isString), piece: field(frame, 'piece', isString) }
}
