import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesPerNode, type DownloadGrantsResponse, peekToken, type SegmentManifest } from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { LevelStore } from '../src/store/level-store.ts'
import type { ObjectRecord } from '../src/store/store.ts'
import { expectOk, FakeNode, nameHash, signup, startTracker, TEST_POLICY, TEST_ROOT } from './helpers.ts'

describe('objects written by importObjects (the scale benchmark seeds with it)', () => {
  it('serve a running tracker as committed ones do: listing, download grants, the account totals', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-import-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const store = new LevelStore({ location: join(dir, 'store') })
    const t = await startTracker({ store })
    const nodes = await FakeNode.many(t, 3)
    const { email, token } = await signup(t)
    const account = await store.accounts.getAccountByEmail(email)
    if (account === undefined) throw new Error('no account')

    const object: ObjectRecord = {
      id: 'importedObject01',
      owner: account.id,
      nameHash: nameHash(),
      meta: 'bWV0YQ',
      wrappedKey: 'a2V5',
      nonce: 'AAAAAAAAAAA',
      size: 1500,
      ...TEST_POLICY,
      segmentCount: 2,
      createdAt: t.clock.now()
    }
    const segments: SegmentManifest[] = [0, 1].map((index) => ({
      index,
      pieces: nodes.map((n, i) => ({ index: i, cid: `bafkreiimported${index}${i}`, node: n.peerId, root: TEST_ROOT }))
    }))
    await store.uploads.importObjects([{ object, segments, nodeBytes: bytesPerNode(object, segments) }])

    const listed = expectOk(await t.request<{ objects: { id: string }[] }>('GET', '/v1/objects', { token }))
    expect(listed.objects.map((o) => o.id)).toEqual([object.id])
    const grants = expectOk(
      await t.request<DownloadGrantsResponse>('POST', `/v1/objects/${object.id}/grants`, {
        token,
        body: { from: 0, to: 2 }
      })
    )
    expect(grants.segments.map((s) => s.index)).toEqual([0, 1])
    for (const s of grants.segments) {
      expect(s.pieces.map((p) => [p.cid, p.node.peerId])).toEqual(
        (segments[s.index]?.pieces ?? []).map((p) => [p.cid, p.node])
      )
      for (const p of s.pieces)
        expect(peekToken(p.grant)).toMatchObject({ kind: 'get', piece: p.cid, node: p.node.peerId })
    }
    const usage = expectOk(await t.request<{ used: number; objects: number }>('GET', '/v1/account', { token }))
    expect(usage).toMatchObject({ used: 1500, objects: 1 })
  })
})
