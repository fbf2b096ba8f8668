import type { Libp2p } from '@libp2p/interface'
import { createClientPeer } from '@shoal/client'
import type { Startable } from '../lifecycle.ts'

/**
 * The tracker's libp2p client peer, started on first use: audits, repair and node admission share it, and a
 * tracker that never dials a node never opens one.
 */
export class ClientPeer implements Startable {
  #peer: Promise<Libp2p> | undefined

  get(): Promise<Libp2p> {
    this.#peer ??= createClientPeer().then(async (p) => {
      await p.start()
      return p
    })
    return this.#peer
  }

  start(): void {}

  async stop(): Promise<void> {
    const peer = this.#peer
    this.#peer = undefined
    if (peer !== undefined) await (await peer).stop()
  }
}
