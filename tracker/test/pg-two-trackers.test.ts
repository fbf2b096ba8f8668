import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { AccountView, BeginUploadResponse, ListObjectsResponse, ObjectSummary } from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  beginBody,
  expectOk,
  FakeNode,
  nameHash,
  pieceSizeOf,
  placeSegment,
  receiptsFor,
  type TestClock,
  TestTracker
} from './helpers.ts'
import { createTestDatabase } from './pg-harness.ts'

const BIN = fileURLToPath(new URL('../bin/shoal-tracker.js', import.meta.url))

function run(args: string[]): ChildProcess {
  const { SHOAL_TRACKER_DATA: _d, SHOAL_TRACKER_PORT: _p, SHOAL_TRACKER_POSTGRES: _g, ...env } = process.env
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
  })
  return child
}

async function output(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

function ready(child: ChildProcess): Promise<string> {
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const value = JSON.parse(line) as { msg?: string; url?: string }
      if (value.msg === 'ready') resolve(value.url as string)
    })
    child.once('exit', (code) => reject(new Error(`tracker exited with ${code} before ready: ${stderr}`)))
  })
}

/** A tracker process seen through the in-process test helpers (they only use its URL and a clock). */
function remote(url: string): TestTracker {
  const clock = { now: () => Date.now(), advance: () => undefined } as unknown as TestClock
  return Object.assign(Object.create(TestTracker.prototype) as TestTracker, { tracker: { url }, clock })
}

// The nodes here are keys that heartbeat, not libp2p nodes: nothing could be dialled back.
const FLAGS = [
  '--port',
  '0',
  '--k',
  '2',
  '--m',
  '1',
  '--segment-size',
  '1KiB',
  '--quota',
  '20000B',
  '--admit-nodes',
  'trust'
]

/** Starts `count` trackers on one database, sharing one data folder (one tracker key). */
async function trackers(count: number, url: string): Promise<TestTracker[]> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-pg-trackers-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  const first = await ready(run(['start', '--data', dir, '--postgres', url, ...FLAGS]))
  const rest = await Promise.all(
    Array.from({ length: count - 1 }, () => ready(run(['start', '--data', dir, '--postgres', url, ...FLAGS])))
  )
  return [first, ...rest].map(remote)
}

/**
 * The same workload, with every step of every upload sent to the trackers in turn: 8 uploads of 2 accounts at
 * once, a name both try to take, a quota both try to fill, one delete. Returns what a user can observe.
 */
async function workload(ts: TestTracker[]) {
  const pick = (i: number) => ts[i % ts.length] as TestTracker
  const nodes = await FakeNode.many(pick(0), 3)
  const users = await Promise.all(
    ['alice', 'bob'].map(async (who, i) => {
      const authKey = 'A'.repeat(43)
      const email = `${who}@example.com`
      const body = { email, authKey, wrappedMasterKey: 'bWFzdGVy' }
      expectOk(await pick(i).request('POST', '/v1/accounts', { body }), 201)
      // Log in on the other tracker: sessions are shared.
      const session = expectOk(await pick(i + 1).request<{ token: string }>('POST', '/v1/sessions', { body }))
      return session.token
    })
  )

  async function upload(step: number, token: string, size: number, name: string) {
    const body = { ...beginBody({ size }), nameHash: name }
    const begun = await pick(step).request<BeginUploadResponse>('POST', '/v1/uploads', { token, body })
    if (begun.status !== 200) return `begin ${begun.status}`
    const up = begun.body
    for (let s = 0; s < up.segmentCount; s++) {
      const placement = await placeSegment(pick(step + s + 1), token, up, s, pieceSizeOf(up, size, s))
      const pieces = await receiptsFor(nodes, placement)
      // Both trackers commit the segment at once: one is first, the other sees alreadyCommitted.
      const commits = await Promise.all(
        ts.map((t) => t.request(`POST`, `/v1/uploads/${up.uploadId}/segments/${s}/commit`, { token, body: { pieces } }))
      )
      for (const c of commits) expectOk(c)
    }
    const done = await pick(step + 1).request<{ object: ObjectSummary }>('POST', `/v1/uploads/${up.uploadId}/commit`, {
      token
    })
    return done.status === 200 ? 'committed' : `commit ${done.status}`
  }

  const [alice, bob] = users as [string, string]
  const shared = nameHash()
  const outcomes = await Promise.all([
    ...Array.from({ length: 4 }, (_, i) => upload(i, alice, 1500, nameHash())),
    ...Array.from({ length: 4 }, (_, i) => upload(i, bob, 2500, nameHash()))
  ])
  const races = await Promise.all([
    // Alice's name race: both trackers commit an upload under the same name without overwrite.
    Promise.all([upload(0, alice, 100, shared), upload(1, alice, 100, shared)]),
    // Bob's quota race: 20000 B quota, 10000 used by the four above, three of 4000 begun at once.
    Promise.all(Array.from({ length: 3 }, (_, i) => upload(i, bob, 4000, nameHash())))
  ])
  const listed = expectOk(await pick(1).request<ListObjectsResponse>('GET', '/v1/objects', { token: alice }))
  const victim = listed.objects.find((o) => o.size === 1500) as ObjectSummary
  expectOk(await pick(0).request('DELETE', `/v1/objects/${victim.id}`, { token: alice }))

  // Every tracker must show every user the same account and listing; return one copy of each.
  const seen = await Promise.all(
    users.map(async (token) => {
      const views = await Promise.all(ts.map((t) => t.request<AccountView>('GET', '/v1/account', { token })))
      const lists = await Promise.all(ts.map((t) => t.request<ListObjectsResponse>('GET', '/v1/objects', { token })))
      const accounts = views.map((v) => {
        const { used, objects: count, quota } = expectOk(v)
        return { used, objects: count, quota }
      })
      const sizes = lists.map((o) =>
        expectOk(o)
          .objects.map((x) => x.size)
          .sort((a, b) => a - b)
      )
      for (const a of accounts) expect(a).toEqual(accounts[0])
      for (const z of sizes) expect(z).toEqual(sizes[0])
      return { account: accounts[0], sizes: sizes[0] }
    })
  )
  return { outcomes, races: races.map((r) => r.map(String).sort()), seen }
}

describe('two tracker processes on one PostgreSQL', () => {
  it('shoal-tracker migrate brings a database to the schema, and start refuses one that is not', async () => {
    const db = await createTestDatabase()
    onTestFinished(() => db.drop())
    const dir = await mkdtemp(join(tmpdir(), 'shoal-pg-trackers-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    const refused = await output(run(['start', '--data', dir, '--postgres', db.url, ...FLAGS]))
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/shoal-tracker migrate --postgres/)
    const first = await output(run(['migrate', '--postgres', db.url]))
    expect(first).toMatchObject({ code: 0 })
    expect(first.stdout).toMatch(/^applied 1: /m)
    const again = await output(run(['migrate', '--postgres', db.url]))
    expect(again.stdout).toMatch(/nothing to do/)
    const bad = await output(run(['migrate', '--postgres', 'mysql://x']))
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/postgres:\/\//)
    const missing = await output(run(['migrate']))
    expect(missing.code).toBe(2)
  })

  it('one tracker runs audits and repair; when it is killed, the other takes over', async () => {
    const db = await createTestDatabase()
    onTestFinished(() => db.drop())
    expect((await output(run(['migrate', '--postgres', db.url]))).code).toBe(0)
    const dir = await mkdtemp(join(tmpdir(), 'shoal-pg-lease-'))
    onTestFinished(() => rm(dir, { recursive: true, force: true }))
    // 1 s loops: the lease is renewed every second and lasts 3 s.
    const args = [
      'start',
      '--data',
      dir,
      '--postgres',
      db.url,
      ...FLAGS,
      '--audit-interval',
      '1s',
      '--repair-interval',
      '1s'
    ]
    const children = [run(args), run(args)]
    const urls = await Promise.all(children.map(ready))
    const held = async (url: string): Promise<number> => {
      const text = await (await fetch(`${url}/metrics`)).text()
      return Number(/^shoal_ops_lease_held (\d)$/m.exec(text)?.[1])
    }
    const waitFor = async (check: () => Promise<boolean>, what: string): Promise<void> => {
      const until = Date.now() + 20_000
      while (!(await check())) {
        if (Date.now() > until) throw new Error(`not within 20 s: ${what}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    await waitFor(async () => (await held(urls[0] as string)) + (await held(urls[1] as string)) === 1, 'one holder')
    // It stays one: three more renewals later, still exactly one holder, and the same one.
    const holder = (await held(urls[0] as string)) === 1 ? 0 : 1
    await new Promise((r) => setTimeout(r, 3500))
    expect([await held(urls[0] as string), await held(urls[1] as string)]).toEqual(holder === 0 ? [1, 0] : [0, 1])
    const rounds = async (url: string) =>
      Number(/^shoal_audit_rounds_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1])
    expect(await rounds(urls[holder] as string)).toBeGreaterThan(0)
    expect(await rounds(urls[1 - holder] as string)).toBe(0)
    // Killed without a chance to give the lease up: the other takes it once it expires.
    const killed = once(children[holder] as ChildProcess, 'exit')
    children[holder]?.kill('SIGKILL')
    await killed
    const started = Date.now()
    await waitFor(async () => (await held(urls[1 - holder] as string)) === 1, 'the other tracker takes over')
    expect(Date.now() - started).toBeLessThan(6000)
    await waitFor(async () => (await rounds(urls[1 - holder] as string)) > 0, 'the new holder audits')
  })

  it('concurrent uploads, commits, races and deletes through two trackers end as through one', async () => {
    const [oneDb, twoDb] = await Promise.all([createTestDatabase(), createTestDatabase()])
    onTestFinished(async () => {
      await Promise.all([oneDb.drop(), twoDb.drop()])
    })
    for (const db of [oneDb, twoDb]) expect((await output(run(['migrate', '--postgres', db.url]))).code).toBe(0)

    const two = await workload(await trackers(2, twoDb.url))
    const one = await workload(await trackers(1, oneDb.url))
    expect(two).toEqual(one)
    // And the expectation itself, so "equal" cannot mean "equally wrong".
    expect(one.outcomes).toEqual(Array(8).fill('committed'))
    expect(one.races).toEqual([
      ['commit 409', 'committed'],
      ['begin 413', 'committed', 'committed']
    ])
    // Alice: 4 x 1500 + 100, minus one 1500 deleted, plus 100 the losing upload still reserves (until it is
    // aborted or expires); Bob: 4 x 2500 + 2 x 4000.
    expect(two.seen).toEqual([
      { account: { used: 4700, objects: 4, quota: 20000 }, sizes: [100, 1500, 1500, 1500] },
      { account: { used: 18000, objects: 6, quota: 20000 }, sizes: [2500, 2500, 2500, 2500, 4000, 4000] }
    ])
  })
})
