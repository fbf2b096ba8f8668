import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  allocUninitialized,
  ByteReader,
  type CID,
  ErrorCode,
  encodeFrame,
  errorFromCode,
  type NodeAddress,
  PROTOCOL_DELETE,
  PROTOCOL_GET,
  PROTOCOL_PUT,
  PROTOCOL_REPAIR,
  type RepairAnswer,
  readRequiredFrame,
  ShoalError,
  sendBounded,
  slices,
  verifyPiece
} from '@shoal/core'
import { openStream } from './client-peer.ts'
import { InBandReceipts } from './in-band-receipts.ts'

/**
 * Writes of this size keep yamux frames large without holding much in flight per stream: 1 MiB puts moved
 * 25-40% more per CPU second than 256 KiB (docs/transport-tuning.md).
 */
const WRITE_SLICE = 1024 * 1024
/** How long other streams on a connection in doubt may take to finish before it is cut. */
const DROP_GRACE_MS = 2000

interface CallOptions {
  signal?: AbortSignal
}

/**
 * Runs one request on a fresh stream: the client sends its request and half-closes, then reads the response.
 * On any failure the stream is aborted, and a remote error header becomes the typed error it names.
 */
async function call<T>(
  peer: Libp2p,
  node: NodeAddress,
  protocol: string,
  options: CallOptions,
  run: (stream: Stream, reader: ByteReader) => Promise<T>
): Promise<T> {
  const stream = await openStream(peer, node, protocol, options)
  const onAbort = (): void => stream.abort(new ShoalError(ErrorCode.ABORTED, 'transfer cancelled'))
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    return await run(stream, new ByteReader(stream))
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    options.signal?.throwIfAborted()
    if (!(err instanceof ShoalError) || err.code === ErrorCode.TIMEOUT) dropConnections(peer, node)
    if (err instanceof ShoalError) throw err
    throw new ShoalError(
      ErrorCode.NODE_UNREACHABLE,
      `transfer with node ${node.peerId} failed: ${(err as Error).message}`,
      {
        cause: err,
        details: { node: node.peerId }
      }
    )
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * A transfer that broke below the protocol (a reset, a stall) puts the connection itself in doubt: after a
 * network blip it can still look open to libp2p and carry nothing, and every later request would reuse it
 * until the connection monitor's pings give up. Closing it makes the next request dial afresh; streams still
 * busy on it get a moment to finish.
 */
function dropConnections(peer: Libp2p, node: NodeAddress): void {
  for (const connection of peer.getConnections(peerIdFromString(node.peerId))) {
    connection.close({ signal: AbortSignal.timeout(DROP_GRACE_MS) }).catch((err: unknown) => {
      connection.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }
}

async function readResponse(reader: ByteReader, node: NodeAddress): Promise<Record<string, unknown>> {
  const header = await readRequiredFrame(reader, 'response')
  if (header.ok !== true) {
    const err = errorFromCode(header.code, header.message)
    throw new ShoalError(err.code, `node ${node.peerId}: ${err.message}`, { details: { node: node.peerId } })
  }
  return header
}

/** Sends a piece under a put grant; returns the node's signed receipt. */
export function putPiece(
  peer: Libp2p,
  node: NodeAddress,
  request: { grant: string; cid: CID; bytes: Uint8Array },
  options: CallOptions = {}
): Promise<string> {
  return call(peer, node, PROTOCOL_PUT, options, async (stream, reader) => {
    const header = encodeFrame({ grant: request.grant, piece: request.cid.toString(), size: request.bytes.byteLength })
    await sendBounded(stream, [header, ...slices(request.bytes, WRITE_SLICE)], options)
    await stream.close(options)
    const response = await readResponse(reader, node)
    if (typeof response.receipt !== 'string') throw new ShoalError(ErrorCode.PROTOCOL, 'put response has no receipt')
    return response.receipt
  })
}

export interface GetPieceOptions extends CallOptions {
  /** Check the bytes against the CID here (default). Off when a codec worker verifies them instead. */
  verify?: boolean
  /** Abort when no byte arrives for this long: a stalled node is dropped, not waited for. */
  stallMs?: number
  /** Called once the request is on its stream (the connection is up). */
  onSent?: () => void
  /** Called as bytes arrive. */
  onBytes?: (n: number) => void
  /**
   * Signs a cumulative receipt for `bytes` of this piece received (get protocol 2.0.0): sent on the stream as
   * bytes arrive, so the node keeps sending beyond its credit. Without it the node sends only its credit.
   */
  sign?: (bytes: number) => Promise<string>
  /**
   * With `sign`: called once the whole piece is in, true when the node was sent the receipt for all of it on the
   * stream, false when that failed (the caller should deliver the receipt another way).
   */
  onReceipted?: (delivered: boolean) => void
}

/**
 * Fetches a whole piece under a get grant into a buffer of its own (transferable to a worker). Unless told
 * otherwise it checks the bytes against the CID, so a corrupt or lying node is caught here (ERR_PIECE_CORRUPT).
 */
export function getPiece(
  peer: Libp2p,
  node: NodeAddress,
  request: { grant: string; cid: CID; size: number },
  options: GetPieceOptions = {}
): Promise<Uint8Array> {
  return call(peer, node, PROTOCOL_GET, options, async (stream, reader) => {
    await sendBounded(stream, [encodeFrame({ grant: request.grant, piece: request.cid.toString() })], options)
    options.onSent?.()
    const receipts = options.sign === undefined ? undefined : new InBandReceipts(stream, options.sign, options)
    if (receipts === undefined) await stream.close(options)
    const stall = new StallTimer(stream, node, options.stallMs)
    try {
      const response = await readResponse(reader, node)
      if (response.size !== request.size) {
        throw new ShoalError(
          ErrorCode.PIECE_CORRUPT,
          `node ${node.peerId} offered ${String(response.size)} bytes of piece ${request.cid}, expected ${request.size}`,
          { details: { node: node.peerId, cid: request.cid.toString() } }
        )
      }
      const bytes = allocUninitialized(request.size)
      let offset = 0
      for await (const chunk of reader.stream(request.size)) {
        bytes.set(chunk, offset)
        offset += chunk.byteLength
        stall.touch()
        options.onBytes?.(chunk.byteLength)
        receipts?.received(offset)
      }
      if (receipts !== undefined) {
        const delivered = await receipts.finish(offset)
        options.onReceipted?.(delivered)
      }
      if (options.verify !== false) {
        try {
          await verifyPiece(request.cid, bytes)
        } catch (err) {
          throw new ShoalError(
            ErrorCode.PIECE_CORRUPT,
            `node ${node.peerId} sent corrupt bytes for piece ${request.cid}`,
            {
              cause: err,
              details: { node: node.peerId, cid: request.cid.toString() }
            }
          )
        }
      }
      return bytes
    } catch (err) {
      throw stall.error ?? err
    } finally {
      stall.clear()
    }
  })
}

/** Resets a stream that has moved no byte for `ms`; the read then fails with ERR_TIMEOUT. */
class StallTimer {
  readonly #stream: Stream
  readonly #node: NodeAddress
  readonly #ms: number | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  error: ShoalError | undefined

  constructor(stream: Stream, node: NodeAddress, ms: number | undefined) {
    this.#stream = stream
    this.#node = node
    this.#ms = ms
    this.touch()
  }

  touch(): void {
    if (this.#ms === undefined) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.error = new ShoalError(ErrorCode.TIMEOUT, `node ${this.#node.peerId} stalled: no data for ${this.#ms} ms`, {
        details: { node: this.#node.peerId }
      })
      this.#stream.abort(this.error)
    }, this.#ms)
  }

  clear(): void {
    clearTimeout(this.#timer)
  }
}

export function deletePiece(
  peer: Libp2p,
  node: NodeAddress,
  request: { grant: string; piece: string },
  options: CallOptions = {}
): Promise<boolean> {
  return call(peer, node, PROTOCOL_DELETE, options, async (stream, reader) => {
    await sendBounded(stream, [encodeFrame({ grant: request.grant, piece: request.piece })], options)
    await stream.close(options)
    const response = await readResponse(reader, node)
    return response.existed === true
  })
}

/**
 * Asks a storage node to carry out a repair order (the repair protocol, v2: `order` is the tracker-signed token,
 * wire/repair-protocol.ts) and returns its answer as it gave it: the caller checks every receipt in it.
 */
export function requestRepair(
  peer: Libp2p,
  worker: NodeAddress,
  order: string,
  options: CallOptions = {}
): Promise<RepairAnswer> {
  return call(peer, worker, PROTOCOL_REPAIR, options, async (stream, reader) => {
    await sendBounded(stream, [encodeFrame({ order })], options)
    await stream.close(options)
    const response = await readResponse(reader, worker)
    if (!Array.isArray(response.placed) || !Array.isArray(response.failed)) {
      throw new ShoalError(ErrorCode.PROTOCOL, `node ${worker.peerId}: a repair answer without placed and failed`)
    }
    return response as unknown as RepairAnswer
  })
}
