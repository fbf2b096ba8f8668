import type { Libp2p } from '@libp2p/interface'
import { nodeMultiaddrs } from '@shoal/client'
import { describeError, ErrorCode, ShoalError } from '@shoal/core'
import type { Logger } from 'pino'
import type { Clock } from './config.ts'

export interface NodeAdmissionComponents {
  /** The tracker's libp2p client peer (shared with audits and repair). */
  peer: () => Promise<Libp2p>
  clock: Clock
  logger: Logger
}

export interface NodeAdmissionInit {
  /** One dial-back may take this long per address. */
  dialTimeoutMs?: number
  /** A node whose addresses were verified is not dialled again for them for this long. */
  verifiedForMs?: number
}

const DEFAULT_DIAL_TIMEOUT_MS = 5_000
const DEFAULT_VERIFIED_FOR_MS = 10 * 60_000

/**
 * Admission of storage nodes: a heartbeat only proves that its sender holds the key of the peer id it names.
 * Before the tracker lists a node (and places pieces on it) it dials the node back over libp2p on each address
 * the heartbeat claims; the Noise handshake proves that whoever answers there holds that peer id's key. Only
 * the addresses that answered as that peer are recorded; a node none of whose addresses answers is refused
 * with ERR_NODE_NOT_REACHABLE, so keys that run no node, or claim someone else's address, get no placement.
 * Verified addresses are remembered for `verifiedForMs`, then checked again (heartbeats come every few seconds).
 */
export class NodeAdmission {
  readonly #c: NodeAdmissionComponents
  readonly #dialTimeoutMs: number
  readonly #verifiedForMs: number
  readonly #verified = new Map<string, { at: number; addrs: Promise<string[]> }>()

  constructor(components: NodeAdmissionComponents, init: NodeAdmissionInit = {}) {
    this.#c = components
    this.#dialTimeoutMs = init.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS
    this.#verifiedForMs = init.verifiedForMs ?? DEFAULT_VERIFIED_FOR_MS
  }

  /**
   * The claimed addresses at which `peerId` answered; ERR_NODE_NOT_REACHABLE when none did. `source` is the
   * address the heartbeat came from, which the refusal suggests announcing.
   */
  admit(peerId: string, addrs: readonly string[], source?: string): Promise<string[]> {
    const key = `${peerId}\n${[...addrs].sort().join('\n')}`
    const now = this.#c.clock.now()
    const cached = this.#verified.get(key)
    if (cached !== undefined && now - cached.at >= 0 && now - cached.at < this.#verifiedForMs) return cached.addrs
    for (const [k, v] of this.#verified) if (now - v.at >= this.#verifiedForMs) this.#verified.delete(k)
    const check = this.#dialBack(peerId, addrs, source)
    this.#verified.set(key, { at: now, addrs: check })
    check.catch(() => {
      if (this.#verified.get(key)?.addrs === check) this.#verified.delete(key)
    })
    return check
  }

  async #dialBack(peerId: string, addrs: readonly string[], source: string | undefined): Promise<string[]> {
    const peer = await this.#c.peer()
    const results = await Promise.all(
      addrs.map(async (addr) => {
        try {
          const [target] = nodeMultiaddrs({ peerId, addrs: [addr] })
          // An address naming another peer (…/p2p/<other>) is not this node's to claim.
          const named = target?.getComponents().filter((c) => c.name === 'p2p') ?? []
          if (target === undefined || named.length !== 1 || named[0]?.value !== peerId) return undefined
          const connection = await peer.dial(target, { signal: AbortSignal.timeout(this.#dialTimeoutMs), force: true })
          // Noise checked the key; this guards against a libp2p that reuses a connection to someone else.
          const answered = connection.remotePeer.toString()
          await connection.close().catch(() => undefined)
          return answered === peerId ? addr : undefined
        } catch (err) {
          this.#c.logger.debug({ node: peerId, addr, err: describeError(err) }, 'dial-back failed')
          return undefined
        }
      })
    )
    const reachable = results.filter((a): a is string => a !== undefined)
    if (reachable.length === 0) {
      this.#c.logger.info({ node: peerId, addrs }, 'node refused: not reachable as itself at any claimed address')
      throw new ShoalError(ErrorCode.NODE_NOT_REACHABLE, unreachableMessage(addrs, source), {
        details: { reason: 'dial-back', addrs: [...addrs] }
      })
    }
    return reachable
  }
}

/**
 * What an operator reads when the tracker cannot dial the node back: the addresses tried and the fixes, most
 * often a port forward on a home router (docs/deploy.md, "Running a node at home").
 */
export function unreachableMessage(addrs: readonly string[], source: string | undefined): string {
  const tried = addrs.length === 0 ? 'it announces no address' : `tried ${addrs.join(', ')}`
  const port = addrs.map((a) => /\/tcp\/(\d+)/.exec(a)?.[1]).find((p) => p !== undefined) ?? '4001'
  const ip = source?.replace(/^::ffff:/, '')
  const family = ip?.includes(':') === true ? 'ip6' : 'ip4'
  const suggestion = ip === undefined ? `/ip4/<public address>/tcp/${port}` : `/${family}/${ip}/tcp/${port}`
  return (
    `the tracker could not reach this node as its peer id (${tried}). Forward TCP port ${port} on your router ` +
    `to this machine and open it in its firewall, then announce the public address: --announce ${suggestion} ` +
    `(see docs/deploy.md)`
  )
}
