import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { ErrorCode, type InfoResponse, type NodesResponse, randomBytes, signToken, toBase64Url } from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { expectError, expectOk, FakeNode, startTracker } from './helpers.ts'

describe('node heartbeats', () => {
  it('registers a node from its first signed heartbeat and answers with the tracker key and peers', async () => {
    const t = await startTracker({ heartbeatIntervalMs: 2000 })
    const [a, b] = await FakeNode.many(t, 2)
    const answer = expectOk(await (a as FakeNode).heartbeat())
    const info = expectOk(await t.request<InfoResponse>('GET', '/v1/info'))
    expect(answer.trackerKey).toBe(info.publicKey)
    expect(info.publicKey).toBe(toBase64Url(publicKeyToProtobuf(t.tracker.publicKey)))
    expect(answer.intervalMs).toBe(2000)
    expect(answer.peers).toEqual([{ peerId: (b as FakeNode).peerId, addrs: (b as FakeNode).payload().addrs }])
    expect(answer.deletes).toEqual([])
    expect(info.nodesOnline).toBe(2)
    expect(info.policy).toEqual({ k: 2, m: 1, segmentSize: 1024, minCommitPieces: 3 })

    const { nodes } = expectOk(await t.request<NodesResponse>('GET', '/v1/nodes'))
    expect(nodes).toHaveLength(2)
    const view = nodes.find((n) => n.peerId === (a as FakeNode).peerId)
    expect(view).toMatchObject({ online: true, capacity: 2_000_000_000, free: 1_000_000_000, version: 'test' })
    expect(view?.lastSeen).toBe(t.clock.now())
  })

  it('refuses a heartbeat signed by another key', async () => {
    const t = await startTracker()
    const node = await FakeNode.create(t)
    const other = await generateKeyPair('Ed25519')
    const forged = await signToken(other, node.payload())
    expectError(await node.sendToken(forged), 401, ErrorCode.UNAUTHORIZED)
    // Flipping a bit of a genuine token breaks it too.
    const genuine = await signToken(node.key, node.payload())
    const [body, sig] = genuine.split('.') as [string, string]
    const flipped = `${body}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`
    expectError(await node.sendToken(flipped), 401, ErrorCode.UNAUTHORIZED)
    expect(expectOk(await t.request<NodesResponse>('GET', '/v1/nodes')).nodes).toEqual([])
  })

  it('refuses replayed and stale heartbeats', async () => {
    const t = await startTracker()
    const node = await FakeNode.create(t)
    const token = await signToken(node.key, node.payload())
    expectOk(await node.sendToken(token))
    expectError(await node.sendToken(token), 409, ErrorCode.CONFLICT)
    // Older than the last accepted one.
    expectError(await node.heartbeat({ at: t.clock.now() - 1000 }), 409, ErrorCode.CONFLICT)
    // More than a minute away from the tracker's clock, either way.
    expectError(await node.heartbeat({ at: t.clock.now() + 61_000 }), 400, ErrorCode.INVALID_INPUT)
    t.clock.advance(120_000)
    expectError(
      await node.sendToken(await signToken(node.key, { ...node.payload(), at: t.clock.now() - 61_000 })),
      400,
      ErrorCode.INVALID_INPUT
    )
    expectOk(await node.heartbeat())
  })

  it('takes a heartbeat that acknowledges thousands of deletes at once', async () => {
    const t = await startTracker()
    const node = await FakeNode.create(t)
    const deleted = Array.from({ length: 10_000 }, () => toBase64Url(randomBytes(16)))
    expectOk(await node.heartbeat({ deleted }))
    expectError(await node.heartbeat({ deleted: [...deleted, 'AAAAAAAAAAA'] }), 400, ErrorCode.INVALID_INPUT)
  })

  it('refuses malformed heartbeats', async () => {
    const t = await startTracker()
    const node = await FakeNode.create(t)
    const bad = [
      { token: 'garbage' },
      { token: 'a.b' },
      { token: 42 },
      {},
      { token: await signToken(node.key, { ...node.payload(), free: -1 }) },
      { token: await signToken(node.key, { ...node.payload(), kind: 'receipt' }) },
      { token: await signToken(node.key, { ...node.payload(), node: 'not-a-peer-id' }) }
    ]
    for (const body of bad) {
      const response = await t.request('POST', '/v1/nodes/heartbeat', { body })
      expect([400, 401]).toContain(response.status)
      expect((response.body as { error: { code: string } }).error.code).toMatch(/^ERR_(INVALID_INPUT|UNAUTHORIZED)$/)
    }
  })

  it('marks a node offline after three missed intervals', async () => {
    const t = await startTracker({ heartbeatIntervalMs: 1000 })
    const [node] = await FakeNode.many(t, 1)
    const online = async () => expectOk(await t.request<NodesResponse>('GET', '/v1/nodes')).nodes[0]?.online
    t.clock.advance(3000)
    expect(await online()).toBe(true)
    t.clock.advance(1)
    expect(await online()).toBe(false)
    expect(expectOk(await t.request<InfoResponse>('GET', '/v1/info')).nodesOnline).toBe(0)
    expectOk(await (node as FakeNode).heartbeat())
    expect(await online()).toBe(true)
  })

  it('marks a node offline after --offline-after when one is given, and refuses one shorter than an interval', async () => {
    const t = await startTracker({ heartbeatIntervalMs: 1000, offlineAfterMs: 10_000 })
    await FakeNode.many(t, 1)
    const online = async () => expectOk(await t.request<NodesResponse>('GET', '/v1/nodes')).nodes[0]?.online
    t.clock.advance(10_000)
    expect(await online()).toBe(true)
    t.clock.advance(1)
    expect(await online()).toBe(false)
    await expect(startTracker({ heartbeatIntervalMs: 5000, offlineAfterMs: 2000 })).rejects.toThrow(
      /offlineAfterMs \(2000 ms\) is shorter than one heartbeat interval/
    )
  })

  it('lists at most 20 peers, never the node itself, and only online ones', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 23)
    const [first, stale] = nodes as [FakeNode, FakeNode]
    t.clock.advance(2500)
    for (const n of nodes.slice(2)) expectOk(await n.heartbeat())
    t.clock.advance(1000)
    // `stale` was last seen 3.5 s ago: offline. 21 others are online.
    const answer = expectOk(await first.heartbeat())
    expect(answer.peers).toHaveLength(20)
    const ids = answer.peers.map((p) => p.peerId)
    expect(ids).not.toContain(first.peerId)
    expect(ids).not.toContain(stale.peerId)
    expect(new Set(ids).size).toBe(20)
  })
})
