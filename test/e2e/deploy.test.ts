import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { SharedFile, ShoalClient } from '@shoal/client'
import { type ApiErrorBody, ErrorCode } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ReadyProcess, spawnReady, stopProcess, Testnet } from '../src/index.ts'
import { codeOf, sha256Stream, tempDir, waitFor } from './helpers.ts'

/**
 * Running Shoal on the internet (issue 14, docs/deploy.md), against real tracker and node processes: what an
 * operator sees when a node announces an address the tracker cannot reach.
 */

const NODE_BIN = fileURLToPath(new URL('../../node/bin/shoal-node.js', import.meta.url))
const TRACKER_BIN = fileURLToPath(new URL('../../tracker/bin/shoal-tracker.js', import.meta.url))

/** `shoal-tracker admin ARGS` as an operator runs it: exit code, stdout and stderr. */
async function adminCli(args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [TRACKER_BIN, 'admin', ...args], {
      env: { ...process.env, ...env }
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** The first JSON log line in `file` whose msg is `msg`. */
async function logLine(file: string, msg: string): Promise<Record<string, unknown> | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    if (!line.includes(msg)) continue
    try {
      const entry = JSON.parse(line) as Record<string, unknown>
      if (entry.msg === msg) return entry
    } catch {
      // not a JSON line
    }
  }
  return undefined
}

describe('deploy', () => {
  let net: Testnet
  let dir: Awaited<ReturnType<typeof tempDir>>
  const adminToken = randomBytes(32).toString('base64url')
  let owner: ShoalClient
  const bytes = randomBytes(1024 * 1024 + 5)
  const digest = () =>
    sha256Stream(
      (async function* () {
        yield bytes
      })()
    )

  beforeAll(async () => {
    dir = await tempDir('shoal-deploy-')
    const tokenFile = join(dir.path, 'admin-token')
    await writeFile(tokenFile, `${adminToken}\n`, { mode: 0o600 })
    // Dial-back admission is the tracker's default.
    net = await Testnet.start({
      nodes: 3,
      k: 2,
      m: 1,
      segmentSize: '1MiB',
      trackerArgs: ['--admin-token-file', tokenFile]
    })
    owner = await ShoalClient.signup(
      { tracker: net.tracker.url, email: 'owner@example.com', password: 'owner password' },
      { codec: 'local' }
    )
    await owner.put('shared.bin', [bytes], bytes.byteLength)
  }, 120_000)

  afterAll(async () => {
    await owner?.stop()
    await net?.stop()
    await dir?.cleanup()
  })

  it('takedown from the CLI: a reported link stops working for visitors, the owner’s file still downloads', async () => {
    const { share, fragment } = await owner.share('shared.bin')
    const open = () => SharedFile.open({ tracker: net.tracker.url, shareId: share.id, fragment, codec: 'local' })
    const visitor = await open()
    try {
      expect(await sha256Stream(visitor.download())).toEqual(await digest())
      // A visitor reports the link.
      const report = await fetch(`${net.tracker.url}/v1/shares/${share.id}/report`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'this is my photo, posted without consent' })
      })
      expect(report.status).toBe(200)
      const env = { SHOAL_TRACKER: net.tracker.url, SHOAL_ADMIN_TOKEN: adminToken }
      const reports = await adminCli(['reports'], env)
      expect(reports.code, reports.stderr).toBe(0)
      expect(reports.stdout).toContain(`share ${share.id}`)
      expect(reports.stdout).toContain('posted without consent')

      // Without --reason the CLI refuses with one line; with a wrong token the tracker does.
      const noReason = await adminCli(['takedown', share.id], env)
      expect(noReason.code).toBe(2)
      expect(noReason.stderr.trim().split('\n')).toHaveLength(1)
      const wrongToken = await adminCli(['takedown', share.id, '--reason', 'x'], { ...env, SHOAL_ADMIN_TOKEN: 'no' })
      expect(wrongToken.code).toBe(1)
      expect(wrongToken.stderr).toContain(ErrorCode.UNAUTHORIZED)

      const takedown = await adminCli(['takedown', share.id, '--reason', 'report 1: no consent'], env)
      expect(takedown.code, takedown.stderr).toBe(0)
      expect(takedown.stdout.trim()).toBe(`${share.id}: taken down`)

      // Visitors: the link is removed by the operator, for a new visit and for a page already open.
      const info = await fetch(`${net.tracker.url}/v1/shares/${share.id}`)
      expect(info.status).toBe(451)
      expect(((await info.json()) as ApiErrorBody).error.code).toBe(ErrorCode.SHARE_REMOVED)
      expect(await codeOf(open())).toBe(ErrorCode.SHARE_REMOVED)
      expect(await codeOf(sha256Stream(visitor.download()))).toBe(ErrorCode.SHARE_REMOVED)
      // The owner: the file is untouched and still downloads; the share is still theirs, not revoked.
      expect(await sha256Stream((await owner.get('shared.bin')).stream)).toEqual(await digest())
      const listed = (await owner.listShares()).find((s) => s.id === share.id)
      expect(listed?.revokedAt).toBeUndefined()
      // ...and their list of links says the operator removed this one, and when.
      expect(listed?.removedAt).toBeGreaterThan(0)

      const log = await adminCli(['log'], env)
      expect(log.stdout).toContain(`takedown ${share.id}  by admin  "report 1: no consent"`)
      const restore = await adminCli(['restore', share.id, '--reason', 'counter-notice'], env)
      expect(restore.stdout.trim()).toBe(`${share.id}: restored`)
      expect((await owner.listShares()).find((s) => s.id === share.id)?.removedAt).toBeUndefined()
      expect(await sha256Stream(visitor.download())).toEqual(await digest())
    } finally {
      await visitor.stop()
    }
  }, 120_000)

  it('the admin API: its own credential, suspending an account stops its logins and links, and is logged', async () => {
    const admin = (path: string, body: unknown, token = adminToken) =>
      fetch(`${net.tracker.url}/v1/admin/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body)
      })
    const { share, fragment } = await owner.share('shared.bin')
    const accountId = (await owner.usage()).id
    // A user's session is no admin credential.
    const asUser = await admin(`accounts/${accountId}/suspend`, { reason: 'x' }, owner.session().token)
    expect(asUser.status).toBe(401)

    const suspended = await admin(`accounts/${accountId}/suspend`, { reason: 'repeated infringement' })
    expect(await suspended.json()).toEqual({ changed: true, action: 'suspend', target: accountId })
    expect(
      await codeOf(
        ShoalClient.login({ tracker: net.tracker.url, email: 'owner@example.com', password: 'owner password' })
      )
    ).toBe(ErrorCode.ACCOUNT_SUSPENDED)
    // Its open session ended, and its links are removed.
    expect(await codeOf(owner.list())).toBe(ErrorCode.UNAUTHORIZED)
    expect(
      await codeOf(SharedFile.open({ tracker: net.tracker.url, shareId: share.id, fragment, codec: 'local' }))
    ).toBe(ErrorCode.SHARE_REMOVED)

    const lifted = await admin(`accounts/${accountId}/unsuspend`, { reason: 'appeal granted' })
    expect(((await lifted.json()) as { changed: boolean }).changed).toBe(true)
    const back = await ShoalClient.login(
      { tracker: net.tracker.url, email: 'owner@example.com', password: 'owner password' },
      { codec: 'local' }
    )
    try {
      // Nothing was deleted.
      expect(await sha256Stream((await back.get('shared.bin')).stream)).toEqual(await digest())
    } finally {
      await back.stop()
    }
    const log = (await (
      await fetch(`${net.tracker.url}/v1/admin/log`, { headers: { authorization: `Bearer ${adminToken}` } })
    ).json()) as { actions: { action: string; target: string }[] }
    expect(log.actions.slice(0, 2).map((a) => `${a.action} ${a.target}`)).toEqual([
      `unsuspend ${accountId}`,
      `suspend ${accountId}`
    ])
  }, 120_000)

  it('an admitted node is ready', async () => {
    const dashboard = (await readFile(join(net.nodes[0]?.dataDir ?? '', 'dashboard.url'), 'utf8')).trim()
    const readyz = await fetch(new URL('readyz', dashboard))
    expect(await readyz.json()).toEqual({ ready: true })
    expect(readyz.status).toBe(200)
  })

  it('a node announcing an address the tracker cannot reach is refused with what to do about it', async () => {
    const dir = await tempDir('shoal-unreachable-node-')
    const logFile = join(dir.path, 'node.log')
    let node: ReadyProcess | undefined
    try {
      node = await spawnReady(
        NODE_BIN,
        [
          'start',
          '--data',
          join(dir.path, 'data'),
          '--tracker',
          net.tracker.url,
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          // Nothing listens on port 9 (discard): as a home node whose router forwards nothing.
          '--announce',
          '/ip4/127.0.0.1/tcp/9',
          '--heartbeat-interval',
          '1s',
          '--dashboard',
          'off',
          '--metrics',
          '127.0.0.1:0'
        ],
        { logFile, label: 'unreachable node' }
      )
      const peerId = String(node.ready.peerId)
      // The node advertises the announced address, not the one it listens on.
      expect(node.ready.addrs).toEqual([`/ip4/127.0.0.1/tcp/9/p2p/${peerId}`])
      const refused = await waitFor('the refusal in the node log', () =>
        logLine(logFile, 'not admitted by the tracker')
      )
      expect(refused.code).toBe(ErrorCode.NODE_NOT_REACHABLE)
      const message = String(refused.err)
      // Says what was tried and what to do: forward the port, announce the public address.
      expect(message).toContain('/ip4/127.0.0.1/tcp/9')
      expect(message).toContain('Forward TCP port 9')
      expect(message).toContain('--announce /ip4/127.0.0.1/tcp/9')
      expect((await net.nodeViews()).some((v) => v.peerId === peerId)).toBe(false)
      // Alive but not ready, and the probe says why; metrics and probes are served without the dashboard.
      const probes = String(node.ready.metrics)
      expect((await fetch(new URL('healthz', probes))).status).toBe(200)
      const readyz = await fetch(new URL('readyz', probes))
      expect(readyz.status).toBe(503)
      expect(await readyz.json()).toMatchObject({ ready: false, code: ErrorCode.NODE_NOT_REACHABLE })
      expect((await fetch(new URL('status.json', probes))).status).toBe(404)
      expect(await (await fetch(new URL('metrics', probes))).text()).toContain('shoal_node_heartbeat_failures_total')
    } finally {
      if (node !== undefined) await stopProcess(node)
      await dir.cleanup()
    }
  }, 90_000)
})
