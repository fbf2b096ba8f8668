import type { Libp2p } from '@libp2p/interface'
import { type ClientPeerInit, createClientPeer } from '@shoal/client'
import type { Startable } from '../lifecycle.ts'

/**
 * The tracker's libp2p client peer, started on first use: audits, repair and node admission share it, and a
 * tracker that never dials a node never opens one.
 */
export class ClientPeer implements Startable {
  readonly #metrics: ClientPeerInit['metrics'] | undefined
  #peer: Promise<Libp2p> | undefined

  /** `metrics`: libp2p metrics for the peer (metrics.ts); default none. */
  constructor(metrics?: ClientPeerInit['metrics']) {
    this.#metrics = metrics
  }

  get(): Promise<Libp2p> {
    this.#peer ??= createClientPeer(this.#metrics === undefined ? {} : { metrics: this.#metrics }).then(async (p) => {
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
