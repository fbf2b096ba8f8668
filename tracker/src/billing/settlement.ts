import type { PublicKey } from '@libp2p/interface'
import {
  ErrorCode,
  fastPublicKey,
  type Grant,
  grantFromPayload,
  isShoalError,
  KeyCache,
  MAX_SETTLEMENT_RECEIPTS,
  MAX_SETTLEMENT_TOKEN_LENGTH,
  openNodeToken,
  openToken,
  REPAIR_ACCOUNT,
  receiptKeyFrom,
  type SettlementPayload,
  type SettlementRejection,
  type SettlementResponse,
  ShoalError,
  verifyGetReceipt
} from '@shoal/core'
import type { Clock } from '../config.ts'
import { HEARTBEAT_MAX_SKEW_MS } from '../constants.ts'
import type { SettlementRecord, StoreParts } from '../store/store.ts'

/** A grant's receipts may be settled until this long after the grant expired; later ones are expired. */
export const SETTLEMENT_WINDOW_MS = 7 * 24 * 3_600_000
/** Clock difference tolerated between a receipt's time and its grant's lifetime. */
const RECEIPT_SKEW_MS = 60_000

class Rejected extends Error {
  readonly reason: SettlementRejection
  constructor(reason: SettlementRejection, message: string) {
    super(message)
    this.reason = reason
  }
}

/**
 * Settlement: nodes hand in batches of clients' download receipts, each with the get grant it answers, and are
 * credited for the bytes. Every receipt is checked on its own: the grant must be the tracker's, for this node,
 * a get with a receipt key; the receipt must be signed by that key for that serial, node and piece, no larger
 * than the grant, signed within the grant's life, and settled within SETTLEMENT_WINDOW_MS of its expiry; and
 * the key must be bound to whoever asked for the grant (`by`, receipt-key.ts), else `unbound`. The
 * store records each serial once (Store.settle), so a replayed or concurrent settlement, through any tracker,
 * never counts a byte twice.
 */
export class Settlements {
  readonly #store: StoreParts<'ledger'>
  readonly #clock: Clock
  readonly #trackerKey: PublicKey
  /** Parsed keys of nodes and clients' receipt keys: most batches come from the same few. */
  readonly #keys = new KeyCache()

  constructor(components: { store: StoreParts<'ledger'>; clock: Clock; trackerKey: PublicKey }) {
    this.#store = components.store
    this.#clock = components.clock
    this.#trackerKey = fastPublicKey(components.trackerKey)
  }

  async settle(body: unknown): Promise<SettlementResponse> {
    const payload = await this.#open(body)
    const now = this.#clock.now()
    const rejected: SettlementResponse['rejected'] = []
    const checked: { record: SettlementRecord; grant: Grant }[] = []
    const seen = new Set<string>()
    await Promise.all(
      payload.receipts.map(async (item, index) => {
        let serial: string | undefined
        try {
          const grant = await this.#grant(item?.grant, payload.node)
          serial = grant.serial
          const bytes = await checkReceipt(item?.receipt, grant, payload.node, now, this.#keys)
          const record = {
            serial: grant.serial,
            node: grant.node,
            account: grant.account,
            piece: grant.piece,
            bytes,
            grantExp: grant.exp,
            settledAt: now
          }
          checked[index] = { record, grant }
        } catch (err) {
          if (!(err instanceof Rejected)) throw err
          rejected.push({
            ...(serial === undefined ? {} : { serial }),
            index,
            reason: err.reason,
            message: err.message
          })
        }
      })
    )
    // Whoever asked for a grant must hold its receipt key: one store read for the batch's keys.
    const holders = await this.#store.ledger.receiptKeyHolders(
      checked.filter((c) => c !== undefined && c.grant.account !== REPAIR_ACCOUNT).map((c) => c.grant.rk as string)
    )
    const valid: SettlementRecord[] = []
    checked.forEach(({ record, grant }, index) => {
      // Repair reads name a key the tracker chose itself (the worker's identity): only clients choose theirs.
      const chosenByClient = grant.account !== REPAIR_ACCOUNT
      if (chosenByClient && (grant.by === undefined || holders.get(grant.rk as string) !== grant.by)) {
        rejected.push({
          serial: record.serial,
          index,
          reason: 'unbound',
          message: `the receipt key of grant ${record.serial} was not granted to whoever asked for it`
        })
      } else valid[index] = record
    })
    const records: SettlementRecord[] = []
    valid.forEach((record, index) => {
      if (seen.has(record.serial)) {
        rejected.push({ serial: record.serial, index, reason: 'replayed', message: 'serial repeated in this batch' })
      } else {
        seen.add(record.serial)
        records.push(record)
      }
    })
    const accepted = new Set(await this.#store.ledger.settle(records))
    records.forEach((record) => {
      if (accepted.has(record.serial)) return
      const index = valid.indexOf(record)
      rejected.push({ serial: record.serial, index, reason: 'replayed', message: `serial ${record.serial} is settled` })
    })
    rejected.sort((a, b) => a.index - b.index)
    return { accepted: records.filter((r) => accepted.has(r.serial)).map((r) => r.serial), rejected }
  }

  /** The node's signed batch: its signature, its clock, its size. */
  async #open(body: unknown): Promise<SettlementPayload> {
    const token = (body as { token?: unknown } | null | undefined)?.token
    const invalid = (message: string) =>
      new ShoalError(ErrorCode.INVALID_INPUT, message, { details: { field: 'token' } })
    if (typeof token !== 'string') throw invalid('token: must be the node-signed settlement token')
    // The payload names its node, and the signature is that node's: openNodeToken.
    const p = (await openNodeToken(token, 'settlement', MAX_SETTLEMENT_TOKEN_LENGTH))
      .payload as Partial<SettlementPayload>
    if (p === null || typeof p !== 'object' || p.v !== 1 || p.kind !== 'settlement') {
      throw invalid('settlement token payload is not a settlement')
    }
    if (!Number.isSafeInteger(p.at) || Math.abs((p.at as number) - this.#clock.now()) > HEARTBEAT_MAX_SKEW_MS) {
      throw invalid("settlement time is far from the tracker's clock: check the node's clock")
    }
    if (!Array.isArray(p.receipts) || p.receipts.length > MAX_SETTLEMENT_RECEIPTS) {
      throw invalid(`receipts: at most ${MAX_SETTLEMENT_RECEIPTS} per settlement`)
    }
    return p as SettlementPayload
  }

  async #grant(token: unknown, node: string): Promise<Grant> {
    let grant: Grant
    try {
      grant = grantFromPayload(await openToken(token, this.#trackerKey, ErrorCode.GRANT_INVALID, 'grant'))
    } catch (err) {
      if (!isShoalError(err)) throw err
      throw new Rejected(/signature/.test(err.message) ? 'forged' : 'invalid', err.message)
    }
    if (grant.node !== node) throw new Rejected('forged', `grant ${grant.serial} is for another node`)
    if (grant.kind !== 'get') throw new Rejected('invalid', `grant ${grant.serial} is a ${grant.kind} grant`)
    if (grant.rk === undefined) throw new Rejected('invalid', `grant ${grant.serial} names no receipt key`)
    return grant
  }
}

async function checkReceipt(token: unknown, grant: Grant, node: string, now: number, keys: KeyCache): Promise<number> {
  let receipt: Awaited<ReturnType<typeof verifyGetReceipt>>
  try {
    const rk = grant.rk as string
    const key = keys.get(`rk:${rk}`, () => receiptKeyFrom(rk))
    receipt = await verifyGetReceipt(token, rk, { serial: grant.serial, node, piece: grant.piece }, key)
  } catch (err) {
    if (!isShoalError(err)) throw err
    throw new Rejected('forged', err.message)
  }
  if (receipt.bytes > grant.size) {
    throw new Rejected('over-limit', `receipt for ${receipt.bytes} bytes, grant ${grant.serial} allows ${grant.size}`)
  }
  if (receipt.bytes === 0) throw new Rejected('invalid', 'receipt for 0 bytes')
  if (receipt.at > grant.exp + RECEIPT_SKEW_MS || receipt.at < grant.iat - RECEIPT_SKEW_MS) {
    throw new Rejected('expired', `receipt signed outside the life of grant ${grant.serial}`)
  }
  if (now > grant.exp + SETTLEMENT_WINDOW_MS) {
    throw new Rejected(
      'expired',
      `grant ${grant.serial} expired more than ${SETTLEMENT_WINDOW_MS / 86_400_000} days ago`
    )
  }
  return receipt.bytes
}
