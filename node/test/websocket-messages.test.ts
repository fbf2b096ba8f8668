import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { webSockets } from '@libp2p/websockets'
import { KiB, MiB, randomBytes, sendBounded, slices } from '@shoal/core'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { startNodePeer, Teardown } from './helpers.ts'

const teardown = new Teardown()
afterEach(() => teardown.run())

const PROTOCOL = '/test/ws-messages/1.0.0'

describe('WebSocket messages (patches/@libp2p__websockets)', () => {
  it("a node's sends leave as a few large messages, not three per noise message, every byte in order", async () => {
    const node = await startNodePeer(teardown.defer, ['/ip4/127.0.0.1/tcp/0/ws'])
    const body = randomBytes(4 * MiB + 123)
    await node.handle(PROTOCOL, async (stream) => {
      await sendBounded(stream, slices(body, 1 * MiB))
      await stream.close()
    })

    // Node's dialer uses the global WebSocket: count what arrives on it, as a browser page would see it.
    let messages = 0
    const Native = globalThis.WebSocket
    globalThis.WebSocket = class extends Native {
      constructor(...args: ConstructorParameters<typeof Native>) {
        super(...args)
        this.addEventListener('message', () => {
          messages++
        })
      }
    }
    teardown.defer(() => {
      globalThis.WebSocket = Native
    })
    const client = await createLibp2p({
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 16 * MiB } })]
    })
    teardown.defer(() => client.stop())
    const stream = await client.dialProtocol(node.getMultiaddrs(), PROTOCOL)
    const before = messages
    const received = Buffer.alloc(body.byteLength)
    let at = 0
    for await (const chunk of stream) {
      received.set(chunk.subarray(), at)
      at += chunk.byteLength
    }
    expect(at).toBe(body.byteLength)
    expect(Buffer.compare(received, body)).toBe(0)
    // Upstream sent a 2-byte length, the ciphertext and the tag of every noise message as three messages: at
    // least 3 per 64 KiB of body (195 here). Coalesced, a send of the node's is one message up to 1 MiB.
    const noiseMessages = Math.ceil(body.byteLength / (64 * KiB))
    expect(messages - before).toBeGreaterThan(0)
    expect(messages - before).toBeLessThan(noiseMessages)
  })
})
