import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent, get } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { randomBytes, toBase64Url } from '@shoal/core'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { TestCa } from '../../test/src/test-ca.ts'
import { RATE_LIMITS } from '../src/rate-limit.ts'
import { LevelStore } from '../src/store/level-store.ts'
import { startTracker, type TestTracker } from './helpers.ts'

/** The tracker's HTTP edge (issue 14, docs/deploy.md): probes, request ids, trusted proxies, its own TLS. */

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-edge-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Sign-ups from `forwardedFor` (as a proxy would say) until one is refused; how many got through. */
async function signupsUntilLimited(t: TestTracker, forwardedFor: (i: number) => string): Promise<number> {
  for (let i = 0; i <= RATE_LIMITS.signupPerIp.burst; i++) {
    const response = await fetch(`${t.url}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor(i) },
      body: JSON.stringify({
        email: `edge${i}-${toBase64Url(randomBytes(6))}@example.com`,
        authKey: toBase64Url(randomBytes(32)),
        wrappedMasterKey: 'bWFzdGVy'
      })
    })
    if (response.status === 429) return i
    expect(response.status).toBe(201)
  }
  return RATE_LIMITS.signupPerIp.burst + 1
}

describe('tracker edge', () => {
  it('answers /readyz while its store answers, and 503 with the reason when it does not', async () => {
    const dir = await tempDir()
    const store = new LevelStore({ location: join(dir, 'store') })
    let broken = false
    const getAccount = store.accounts.getAccount.bind(store.accounts)
    store.accounts.getAccount = (id) => (broken ? Promise.reject(new Error('connection refused')) : getAccount(id))
    const t = await startTracker({ store })
    expect(await (await fetch(`${t.url}/readyz`)).json()).toEqual({ ready: true })
    broken = true
    const down = await fetch(`${t.url}/readyz`)
    expect(down.status).toBe(503)
    expect(await down.json()).toEqual({ ready: false, reason: 'the store does not answer: connection refused' })
    // Alive all the same.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200)
  })

  it('gives every request an id, in the answer and the logs, keeping a well-formed one from the proxy', async () => {
    const lines: Record<string, unknown>[] = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
    const t = await startTracker({ logger })
    const fresh = (await fetch(`${t.url}/v1/info`)).headers.get('x-request-id')
    expect(fresh).toMatch(/^[0-9a-f-]{36}$/)
    const given = await fetch(`${t.url}/v1/info`, { headers: { 'x-request-id': 'lb-7f3a.42' } })
    expect(given.headers.get('x-request-id')).toBe('lb-7f3a.42')
    const forged = await fetch(`${t.url}/v1/info`, { headers: { 'x-request-id': '<script>'.repeat(10) } })
    expect(forged.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    // The access log line (debug) names the request by that id, as every line logged while serving it does.
    expect(lines.find((l) => l.msg === 'request' && l.reqId === 'lb-7f3a.42')).toMatchObject({ url: '/v1/info' })
  })

  it('believes X-Forwarded-For only from a trusted proxy: rate limits then see each client', async () => {
    // Not trusted: one client cannot dodge the per-address limit by naming other addresses.
    const direct = await startTracker()
    expect(await signupsUntilLimited(direct, (i) => `198.51.100.${i}`)).toBe(RATE_LIMITS.signupPerIp.burst)
    // Behind a trusted proxy on loopback: each forwarded client has its own bucket.
    const proxied = await startTracker({ trustProxy: ['127.0.0.1'] })
    expect(await signupsUntilLimited(proxied, (i) => `198.51.100.${i}`)).toBe(RATE_LIMITS.signupPerIp.burst + 1)
    // And the same forwarded client is limited like a direct one.
    const again = await startTracker({ trustProxy: ['loopback'] })
    expect(await signupsUntilLimited(again, () => '203.0.113.9')).toBe(RATE_LIMITS.signupPerIp.burst)
  }, 60_000)

  it('serves HTTPS with the operator’s certificate and reloads a renewed one without a restart', async () => {
    const dir = await tempDir()
    const ca = await TestCa.create(dir)
    const first = await ca.issue('tracker', { ips: ['127.0.0.1'] })
    const renewed = await ca.issue('tracker-renewed', { ips: ['127.0.0.1'] })
    const live = { cert: join(dir, 'live.pem'), key: join(dir, 'live-key.pem') }
    await copyFile(first.cert, live.cert)
    await copyFile(first.key, live.key)
    const t = await startTracker({ tls: { ...live, reloadIntervalMs: 50 } })
    expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const caPem = await readFile(ca.cert, 'utf8')
    const port = Number(new URL(t.url).port)
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, ca: caPem }, () => {
          resolve(socket.getPeerCertificate().fingerprint256)
          socket.destroy()
        })
        socket.once('error', reject)
      })
    expect(await served()).toBe(first.fingerprint256)
    // The API itself over TLS, verified against the CA.
    const info = await new Promise<number>((resolve, reject) => {
      get(`${t.url}/v1/info`, { agent: new Agent({ ca: caPem }) }, (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      }).once('error', reject)
    })
    expect(info).toBe(200)
    await copyFile(renewed.key, live.key)
    await copyFile(renewed.cert, live.cert)
    const deadline = Date.now() + 20_000
    while ((await served()) !== renewed.fingerprint256) {
      if (Date.now() > deadline) throw new Error('the renewed certificate was not served')
      await new Promise((r) => setTimeout(r, 25))
    }
  })
})
