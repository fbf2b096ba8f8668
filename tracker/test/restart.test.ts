import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import {
  type AccountView,
  type DownloadGrantsResponse,
  ErrorCode,
  type InfoResponse,
  type ListObjectsResponse,
  type NodesResponse,
  type SessionResponse,
  signToken,
  toBase64Url,
  verifyGrant
} from '@shoal/core'
import { describe, expect, it } from 'vitest'
import { expectError, expectOk, FakeNode, signup, startTracker, uploadObject } from './helpers.ts'

describe('restart', () => {
  it('keeps its key, accounts, sessions, nodes, objects and delete queues across a restart', async () => {
    const t = await startTracker()
    const nodes = await FakeNode.many(t, 3)
    const { token, email, authKey } = await signup(t)
    const { object } = await uploadObject(t, token, nodes, { size: 2000 })
    const doomed = await uploadObject(t, token, nodes, { size: 5 })
    expectOk(await t.request('DELETE', `/v1/objects/${doomed.object.id}`, { token }))
    const before = expectOk(await t.request<InfoResponse>('GET', '/v1/info'))
    const account = expectOk(await t.request<AccountView>('GET', '/v1/account', { token }))
    const mode = (await stat(join(t.dir, 'tracker.key'))).mode & 0o777
    expect(mode).toBe(0o600)

    const replay = await signToken((nodes[0] as FakeNode).key, (nodes[0] as FakeNode).payload())
    expectOk(await (nodes[0] as FakeNode).sendToken(replay))

    await t.restart()
    // Started and stopped again on the same folder, the same state is there.
    const after = expectOk(await t.request<InfoResponse>('GET', '/v1/info'))
    expect(after.publicKey).toBe(before.publicKey)
    expect(toBase64Url(publicKeyToProtobuf(t.tracker.publicKey))).toBe(before.publicKey)
    expect(expectOk(await t.request<AccountView>('GET', '/v1/account', { token }))).toEqual(account)
    const login = expectOk(await t.request<SessionResponse>('POST', '/v1/sessions', { body: { email, authKey } }))
    expect(login.account.id).toBe(account.id)
    expect(expectOk(await t.request<ListObjectsResponse>('GET', '/v1/objects', { token })).objects).toEqual([object])
    expect(expectOk(await t.request<NodesResponse>('GET', '/v1/nodes')).nodes).toHaveLength(3)

    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${object.id}/grants`, {
        token,
        body: { from: 0, to: 2 }
      })
    )
    const key = await t.trackerKey()
    for (const piece of grants.segments.flatMap((s) => s.pieces)) {
      await verifyGrant(piece.grant, key, {
        kind: 'get',
        node: piece.node.peerId,
        piece: piece.cid,
        now: t.clock.now()
      })
    }
    // A replayed pre-restart heartbeat is still refused; delete orders are still queued.
    expectError(await (nodes[0] as FakeNode).sendToken(replay), 409, ErrorCode.CONFLICT)
    const pending = []
    for (const n of nodes) pending.push(...expectOk(await n.heartbeat()).deletes)
    expect(pending).toHaveLength(3)
  })

  it('start and stop are idempotent', async () => {
    const t = await startTracker()
    await Promise.all([t.tracker.start(), t.tracker.start()])
    const url = t.url
    expectOk(await t.request('GET', '/healthz'))
    await Promise.all([t.tracker.stop(), t.tracker.stop()])
    await t.tracker.stop()
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
    await t.tracker.start()
    expectOk(await t.request('GET', '/healthz'))
  })

  it('stops when its signal is aborted', async () => {
    const controller = new AbortController()
    const t = await startTracker({ signal: controller.signal })
    const url = t.url
    controller.abort()
    await expect
      .poll(async () =>
        fetch(`${url}/healthz`).then(
          () => 'up',
          () => 'down'
        )
      )
      .toBe('down')
  })
})
