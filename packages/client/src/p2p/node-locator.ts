import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { NodeAddress } from '@shoal/core'
import { type ClientPeerInit, locateNode } from './client-peer.ts'

/**
 * Finds where a node listens now, when the addresses a manifest gave fail: through the DHT, on a libp2p peer of
 * its own that starts on the first lookup. The transfer peer runs no DHT (client-peer.ts), so the locator
 * learns its routing table from the nodes the transfer peer is connected to: it dials them (identify then tells
 * its DHT which speak the protocol), again on every wait while the table is empty, since a lookup can come
 * before the first transfer connection is up.
 */
export class NodeLocator {
  readonly #transfer: () => Promise<Libp2p>
  readonly #init: ClientPeerInit
  #peer: Promise<Libp2p> | undefined
  readonly #dialled = new Set<string>()
  readonly #isDown: (peerId: string) => boolean

  /** `isDown`: nodes this client could not dial lately (unreachable-nodes.ts), which the locator never dials. */
  constructor(
    transfer: () => Promise<Libp2p>,
    init: ClientPeerInit = {},
    isDown: (peerId: string) => boolean = () => false
  ) {
    this.#transfer = transfer
    this.#init = init
    this.#isDown = isDown
  }

  locate = async (node: NodeAddress, signal: AbortSignal): Promise<NodeAddress | undefined> => {
    const transfer = await this.#transfer()
    // Imported here: the DHT is a fifth of the `shoal` bundle, which every command would otherwise load.
    this.#peer ??= import('./locator-peer.ts').then(({ createLocatorPeer }) =>
      createLocatorPeer(this.#init, this.#isDown)
    )
    const peer = await this.#peer
    const seed = (): void => this.#seed(peer, transfer, node, signal)
    seed()
    return locateNode(peer, node, signal, seed)
  }

  async stop(): Promise<void> {
    const peer = this.#peer
    this.#peer = undefined
    this.#dialled.clear()
    if (peer !== undefined) await (await peer).stop()
  }

  /** Dials, without waiting, every node the transfer peer reaches that the locator has not dialled yet. */
  #seed(peer: Libp2p, transfer: Libp2p, lost: NodeAddress, signal: AbortSignal): void {
    for (const connection of transfer.getConnections()) {
      const id = connection.remotePeer.toString()
      if (id === lost.peerId || this.#dialled.has(id)) continue
      this.#dialled.add(id)
      const addr = connection.remoteAddr.toString()
      const target = multiaddr(addr.includes('/p2p/') ? addr : `${addr}/p2p/${id}`)
      // A node that cannot be dialled is simply not in the table; another seed or the next wait covers it.
      peer.dial(target, { signal }).catch(() => this.#dialled.delete(id))
    }
  }
}
