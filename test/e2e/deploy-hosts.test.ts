import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { createServer as createHttpsServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureWebUiBuilt } from '@shoal/web-ui'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HostNetwork, type ReadyProcess, spawnReady, stopProcess, TestCa, Testnet } from '../src/index.ts'
import {
  assertChromium,
  CHROMIUM,
  CHROMIUM_ARGS,
  downloadThroughUi,
  newPage,
  signUp,
  waitForTransfers
} from './browser-helpers.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

// Hosts mode needs root and iproute2 (CI and the dev machines have both); elsewhere this is skipped and says why.
const unavailable = await HostNetwork.unavailable()
if (unavailable !== undefined) process.stderr.write(`deploy-hosts.test.ts skipped: ${unavailable}\n`)

const MiB = 1024 * 1024
const NODES = 4
/** The web UI's own host: the one after the nodes'. */
const WEB_UI_HOST = NODES
const WEB_UI_HOST_SCRIPT = fileURLToPath(new URL('../src/web-ui-host.ts', import.meta.url))
const NODE_PORT = 4001
const WSS_PORT = 4443

/**
 * A TLS-terminating reverse proxy in front of the tracker, as docs/deploy.md describes: it replaces
 * X-Forwarded-For with the client's address, and the tracker runs with --trust-proxy for it.
 */
async function startProxy(tls: { cert: string; key: string }, host: string, upstream: string): Promise<Server> {
  const target = new URL(upstream)
  const server = createHttpsServer(tls, (req, res) => {
    const up = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '' }
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      }
    )
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return server
}

/**
 * Shoal deployed across simulated hosts (issue 14): every node on a host of its own, announcing its address and
 * secure WebSockets with a certificate from a test CA; the tracker dials each back before listing it; the web
 * UI served over HTTPS and the tracker behind a TLS proxy; Chromium (trusting the test certificate) uploads
 * and downloads over wss only; an operator's takedown stops the share link while the owner's file still
 * downloads.
 */
describe.skipIf(unavailable !== undefined)('deployed across hosts, TLS everywhere', { timeout: 240_000 }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let net: Testnet
  let ui: ReadyProcess
  let uiUrl = ''
  let proxy: Server
  let browser: Browser
  let spki = ''
  const adminToken = randomBytes(32).toString('base64url')
  const extraCa = process.env.NODE_EXTRA_CA_CERTS

  beforeAll(async () => {
    assertChromium()
    await ensureWebUiBuilt()
    dir = await tempDir('shoal-deploy-hosts-')
    const tokenFile = join(dir.path, 'admin-token')
    await writeFile(tokenFile, adminToken, { mode: 0o600 })
    let cert: { cert: string; key: string } | undefined
    net = await Testnet.start({
      nodes: NODES,
      k: 2,
      m: 2,
      segmentSize: '1MiB',
      // The tracker (behind its proxy) on the hub, each node on a host, the web UI on a host of its own.
      hosts: { required: true, extraHosts: 1 },
      // Each node listens on fixed ports of its own host and announces exactly those.
      nodeArgs: (_i, host) => [
        '--listen',
        `/ip4/${host?.address}/tcp/${NODE_PORT}`,
        '--listen',
        `/ip4/${host?.address}/tcp/${WSS_PORT}/tls/ws`,
        '--announce',
        `/ip4/${host?.address}/tcp/${NODE_PORT}`,
        '--announce',
        `/ip4/${host?.address}/tcp/${WSS_PORT}/tls/ws`,
        '--tls-cert',
        cert?.cert ?? '',
        '--tls-key',
        cert?.key ?? ''
      ],
      prepare: async (hosts) => {
        const ca = await TestCa.create(dir.path)
        const issued = await ca.issue('shoal-hosts', {
          ips: [hosts?.hubAddress ?? '127.0.0.1', ...(hosts?.hosts ?? []).map((h) => h.address)]
        })
        cert = issued
        spki = issued.spki
        // The tracker dials nodes back over wss too: its processes trust the test CA (nothing else does).
        process.env.NODE_EXTRA_CA_CERTS = ca.cert
        return { trackerArgs: ['--admin-token-file', tokenFile, '--trust-proxy', 'loopback,10.0.0.0/8'] }
      }
    })
    const hub = net.hosts?.hubAddress ?? '127.0.0.1'
    const files = cert as { cert: string; key: string }
    const pem = { cert: await readFile(files.cert, 'utf8'), key: await readFile(files.key, 'utf8') }
    proxy = await startProxy(pem, hub, net.tracker.url)
    const trackerHttps = `https://${hub}:${(proxy.address() as AddressInfo).port}`
    const uiHost = net.hosts?.host(WEB_UI_HOST)
    ui = await spawnReady(
      WEB_UI_HOST_SCRIPT,
      ['--tracker', trackerHttps, '--host', uiHost?.address ?? '', '--tls-cert', files.cert, '--tls-key', files.key],
      {
        logFile: join(dir.path, 'web-ui.log'),
        label: 'web UI',
        wrap: (command, args) => (net.hosts as HostNetwork).wrap(WEB_UI_HOST, command, args)
      }
    )
    uiUrl = String(ui.ready.url)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`]
    })
  }, 240_000)

  afterAll(async () => {
    if (extraCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS
    else process.env.NODE_EXTRA_CA_CERTS = extraCa
    await browser?.close().catch(() => {})
    if (ui !== undefined) await stopProcess(ui)
    await new Promise((resolve) => proxy?.close(resolve) ?? resolve(undefined))
    await net?.stop()
    await dir?.cleanup()
  })

  it('nodes announce their hosts’ addresses with wss, and the tracker lists each after dialling it back', async () => {
    expect(net.mode).toBe('hosts')
    const views = new Map((await net.nodeViews()).map((v) => [v.peerId, v]))
    for (const node of net.nodes) {
      const address = node.host?.address
      expect(node.addrs.map((a) => a.replace(/\/p2p\/.*$/, ''))).toEqual([
        `/ip4/${address}/tcp/${NODE_PORT}`,
        `/ip4/${address}/tcp/${WSS_PORT}/tls/ws`
      ])
      // Both answered the tracker's dial-back as this node: the wss one through the test certificate.
      expect(views.get(node.peerId)?.addrs.sort()).toEqual([
        `/ip4/${address}/tcp/${NODE_PORT}`,
        `/ip4/${address}/tcp/${WSS_PORT}/tls/ws`
      ])
    }
  })

  it('Chromium on the HTTPS page uploads and downloads over wss only; a takedown stops the link, not the owner', async () => {
    const { page, context } = await newPage(browser)
    const sockets: string[] = []
    page.on('websocket', (ws) => sockets.push(ws.url()))
    try {
      // Served from its own host, to a browser on the hub's side, talking to the tracker on the hub.
      expect(uiUrl).toMatch(new RegExp(`^https://${net.hosts?.host(WEB_UI_HOST).address.replaceAll('.', '\\.')}:`))
      await signUp(page, uiUrl, 'operator-test@example.com', 'a long enough password')
      const path = join(dir.path, 'photo.bin')
      const sha = await randomFile(path, 2 * MiB + 77)
      await page.getByTestId('file-input').setInputFiles(path)
      await waitForTransfers(page)
      expect(await sha256File(await downloadThroughUi(page, 'photo.bin'))).toBe(sha)
      // Every connection to a node was secure WebSockets, to the nodes' hosts.
      expect(sockets.length).toBeGreaterThan(0)
      for (const url of sockets) expect(url).toMatch(new RegExp(`^wss://10\\.\\d+\\.\\d+\\.2:${WSS_PORT}`))

      // Share it, open the link in a fresh profile: it downloads.
      await page.getByRole('button', { name: 'Share photo.bin', exact: true }).click()
      const dialog = page.getByRole('dialog')
      await dialog.getByRole('button', { name: 'Create link' }).click()
      const link = await dialog.locator('input[name="share-link"]').inputValue()
      await dialog.getByRole('button', { name: 'Done' }).click()
      const shareId = /\/s\/([A-Za-z0-9_-]+)/.exec(link)?.[1] ?? ''
      const visitor = await newPage(browser)
      await visitor.page.goto(link)
      await visitor.page.getByRole('button', { name: 'Download' }).waitFor()

      // The operator takes it down through the admin API.
      const takedown = await fetch(`${net.tracker.url}/v1/admin/shares/${shareId}/takedown`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'abuse report 42' })
      })
      expect(takedown.status).toBe(200)
      await visitor.page.goto('about:blank')
      await visitor.page.goto(link)
      await visitor.page.getByText('Removed by the operator', { exact: true }).waitFor()
      await visitor.page.getByText('This link was removed by the operator of this service.').waitFor()
      expect(await visitor.page.getByRole('button', { name: 'Download' }).count()).toBe(0)
      await visitor.context.close()

      // The owner's own copy is untouched.
      expect(await sha256File(await downloadThroughUi(page, 'photo.bin'))).toBe(sha)
    } finally {
      await context.close()
    }
  })
})
