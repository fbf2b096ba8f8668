import { join } from 'node:path'
import { DOWNLOAD_DEFAULTS } from '@shoal/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BrowserNet,
  downloadThroughUi,
  newPage,
  screenshot,
  signIn,
  signUp,
  startBrowserNet,
  uploadThroughChooser,
  waitForTransfers
} from './browser-helpers.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

const MiB = 1024 * 1024

// Browser tests share two cores with other test files: generous timeouts, short actual runs.
describe('web UI in Chromium against a real testnet', { timeout: 150_000 }, () => {
  let env: BrowserNet
  let dir: { path: string; cleanup: () => Promise<void> }

  beforeAll(async () => {
    dir = await tempDir('shoal-browser-')
    env = await startBrowserNet({ nodes: 6, k: 4, m: 2 })
  })
  afterAll(async () => {
    await env?.stop()
    await dir?.cleanup()
  })

  it('signs up, uploads 20 MiB through the file chooser, lists it, downloads the same bytes; again with m nodes dead', async () => {
    const { context, page } = await newPage(env.browser)
    // Collected from the start: the client starts its codec workers ahead of the first transfer.
    const workers: string[] = []
    page.on('worker', (worker) => workers.push(worker.url()))
    await signUp(page, env.ui.url, 'ada@example.com', 'correct horse battery')
    await page.getByText('No files yet').waitFor()
    await screenshot(page, 'files-empty')

    const source = join(dir.path, 'random-20MiB.bin')
    const sha = await randomFile(source, 20 * MiB)
    await uploadThroughChooser(page, [source])
    await waitForTransfers(page)
    // The app codes in Web Workers, not on the page (browser-codec.test.ts measures what that is worth).
    expect(workers.filter((url) => url.includes('codec-worker')).length).toBeGreaterThan(0)
    const row = page.locator('tr[data-name="random-20MiB.bin"]')
    await row.waitFor()
    await expect(row.locator('td.num').textContent()).resolves.toBe('20.0 MiB')
    await expect(page.getByTestId('usage').textContent()).resolves.toContain('20.0 MiB of')
    await expect(page.getByTestId('usage-month').textContent()).resolves.toMatch(/downloaded this month · free plan$/)
    await screenshot(page, 'files')

    expect(await sha256File(await downloadThroughUi(page, 'random-20MiB.bin'))).toBe(sha)

    // The WebSocket ports of the nodes about to die, to see whom the page dials.
    const deadPorts = [0, 1].flatMap((i) =>
      env.net.nodes[i]!.addrs.flatMap((a) => /\/tcp\/(\d+)\/ws(\/|$)/.exec(a)?.[1] ?? [])
    )
    expect(deadPorts).toHaveLength(2)
    // Every WebSocket the page opens, and when (ms since the epoch).
    const dials: { url: string; at: number }[] = []
    const consoleErrors: string[] = []
    page.on('websocket', (ws) => dials.push({ url: ws.url(), at: Date.now() }))
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text())
    })
    const toDead = (since: number) =>
      dials.filter((d) => d.at >= since && deadPorts.some((port) => d.url.includes(`:${port}`)))
    await env.net.killNode(0)
    await env.net.killNode(1)
    const second = Date.now()
    expect(await sha256File(await downloadThroughUi(page, 'random-20MiB.bin'))).toBe(sha)
    // That download had to find out that they are down: it dialled them.
    expect(toDead(second).length).toBeGreaterThan(0)
    // The next one does not dial them again, so no failed WebSocket shows in the console (issue 15). The one
    // case where it may, by design: a live holder that has sent nothing for half the stall time gets a hedge
    // that may go to a node known to be down (docs/transfer-engine.md). Under heavy load that can happen; a
    // dial to a dead node sooner than that is the redial this test is about.
    const third = Date.now()
    consoleErrors.length = 0
    expect(await sha256File(await downloadThroughUi(page, 'random-20MiB.bin'))).toBe(sha)
    const dead = toDead(third)
    const early = dead.filter((d) => d.at - third < DOWNLOAD_DEFAULTS.stallMs / 2)
    const when = dead.map((d) => `${d.url} at +${d.at - third} ms`).join(', ')
    expect(early, `dead nodes dialled: ${when}`).toEqual([])
    // A failed WebSocket in the console only for such a dial (none at all when there was none).
    expect(consoleErrors.filter((text) => /WebSocket/i.test(text)).length).toBeLessThanOrEqual(dead.length)
    await screenshot(page, 'transfers')
    await page.setViewportSize({ width: 390, height: 800 })
    await screenshot(page, 'files-narrow')
    await page.setViewportSize({ width: 1280, height: 800 })
    await context.close()
  })

  it('signing out ends the session on the tracker, not only in this tab', async () => {
    const { context, page } = await newPage(env.browser)
    await signIn(page, env.ui.url, 'ada@example.com', 'correct horse battery')
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    const saved = await page.evaluate(() => sessionStorage.getItem('shoal.session'))
    const token = (JSON.parse(saved ?? '{}') as { token?: string }).token as string
    const account = () => fetch(`${env.net.tracker.url}/v1/account`, { headers: { authorization: `Bearer ${token}` } })
    expect((await account()).status).toBe(200)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('Email').waitFor()
    expect((await account()).status).toBe(401)
    await context.close()
  })

  it('"Remember this device" opens new tabs without the password until sign-out; by default a new tab asks', async () => {
    const { context, page } = await newPage(env.browser)
    await signIn(page, env.ui.url, 'ada@example.com', 'correct horse battery')
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    const plain = await context.newPage()
    await plain.goto(env.ui.url)
    await plain.getByLabel('Email').waitFor()
    await plain.close()

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('Email').fill('ada@example.com')
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery')
    await page.getByLabel('Remember this device').check()
    await screenshot(page, 'sign-in-remember')
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()

    const tab = await context.newPage()
    await tab.goto(`${env.ui.url}/?view=trash`)
    await tab.getByRole('button', { name: 'Sign out' }).waitFor()
    await tab.getByRole('heading', { name: 'Trash', exact: true }).waitFor()
    // Stored encrypted under a key the page can use but not read; the master key is nowhere in the clear.
    const stored = await tab.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open('shoal')
        request.onsuccess = () => resolve(request.result)
        request.onerror = () => reject(request.error)
      })
      const record = await new Promise<{ key: CryptoKey; sealed: ArrayBuffer }>((resolve, reject) => {
        const request = db.transaction('device').objectStore('device').get('session')
        request.onsuccess = () => resolve(request.result)
        request.onerror = () => reject(request.error)
      })
      const master = (JSON.parse(sessionStorage.getItem('shoal.session') ?? '{}') as { masterKey: string }).masterKey
      const sealedText = new TextDecoder('latin1').decode(record.sealed)
      return {
        extractable: record.key.extractable,
        exportable: await crypto.subtle.exportKey('raw', record.key).then(
          () => true,
          () => false
        ),
        inClear: sealedText.includes(master) || localStorage.length > 0
      }
    })
    expect(stored).toEqual({ extractable: false, exportable: false, inClear: false })

    // Signing out (in any tab) forgets the device: the next tab asks again.
    await tab.getByRole('button', { name: 'Sign out' }).click()
    await tab.getByLabel('Email').waitFor()
    const after = await context.newPage()
    await after.goto(env.ui.url)
    await after.getByLabel('Email').waitFor()
    await context.close()
  })

  it('a wrong password gives a clear message and opens nothing', async () => {
    const { context, page } = await newPage(env.browser)
    await signIn(page, env.ui.url, 'ada@example.com', 'not the password')
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Wrong email or password.')
    await expect(page.getByRole('button', { name: 'Sign out' }).count()).resolves.toBe(0)
    await screenshot(page, 'sign-in-wrong-password')
    await context.close()
  })
})
