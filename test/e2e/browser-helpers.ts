import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'
import { CHROMIUM_FLAGS, CHROMIUM_PATH, ensureWebUiBuilt, startWebUiServer, type WebUiServer } from '@shoal/web-ui'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { Testnet, type TestnetInit } from '../src/index.ts'

export const CHROMIUM = CHROMIUM_PATH
export const SCREENSHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url))
export const CHROMIUM_ARGS = [...CHROMIUM_FLAGS]

export function assertChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: browser tests need Debian's chromium (npm test installs it; or run apt-get install -y chromium)`
    )
  }
}

export interface BrowserNet {
  net: Testnet
  ui: WebUiServer
  browser: Browser
  stop(): Promise<void>
}

/** A real testnet, the built web UI served next to it, and headless Chromium. */
export async function startBrowserNet(init: TestnetInit): Promise<BrowserNet> {
  assertChromium()
  await ensureWebUiBuilt()
  const net = await Testnet.start(init)
  let ui: WebUiServer | undefined
  let browser: Browser | undefined
  try {
    ui = await startWebUiServer({ tracker: net.tracker.url })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  } catch (err) {
    await ui?.close()
    await net.stop()
    throw err
  }
  const started = { net, ui, browser }
  return {
    ...started,
    stop: async () => {
      await browser.close().catch(() => {})
      await started.ui.close()
      await net.stop()
    }
  }
}

/** A fresh browser profile (no session, no service worker) with downloads allowed. */
export async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`))
  return { context, page }
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) })
}

export async function signUp(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url)
  await page.getByRole('tab', { name: 'Create account' }).click()
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByLabel('Repeat password').fill(password)
  await page.getByRole('button', { name: 'Create account', exact: true }).click()
  await acknowledgeRecoveryKey(page)
  await page.getByRole('button', { name: 'Sign out' }).waitFor()
}

/** Creates a share link from the owner's page and returns it. */
export async function createShare(page: Page, name: string, password?: string): Promise<string> {
  await page.getByRole('button', { name: `Share ${name}`, exact: true }).click()
  const dialog = page.getByRole('dialog')
  if (password !== undefined) await dialog.getByLabel('Password (optional)').fill(password)
  await dialog.getByRole('button', { name: 'Create link' }).click()
  const link = await dialog.locator('input[name="share-link"]').inputValue()
  await dialog.getByRole('button', { name: 'Done' }).click()
  return link
}

/** Closes the recovery key shown once after sign-up (or on demand); returns the key. */
export async function acknowledgeRecoveryKey(page: Page): Promise<string> {
  const dialog = page.getByRole('dialog', { name: 'Your recovery key' })
  const key = (await dialog.getByTestId('recovery-key').textContent({ timeout: 60_000 })) ?? ''
  await dialog.getByRole('button', { name: 'I have saved it' }).click()
  return key
}

export async function signIn(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
}

/** Uploads through the real file chooser (the Upload button), as a person would. */
export async function uploadThroughChooser(page: Page, paths: string[]): Promise<void> {
  const chooser = page.waitForEvent('filechooser')
  await page.getByRole('button', { name: 'Upload files' }).click()
  await (await chooser).setFiles(paths)
}

/** Waits until every upload in the transfers panel has finished, and fails on any failed one. */
export async function waitForTransfers(page: Page, timeout = 90_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const rows = [...document.querySelectorAll('.transfer')]
      return (
        rows.length > 0 &&
        rows.every((r) => ['done', 'failed', 'cancelled'].includes(r.getAttribute('data-state') ?? ''))
      )
    },
    undefined,
    { timeout }
  )
  const failed = await page
    .locator('.transfer[data-state="failed"] .transfer-status')
    .evaluateAll((rows) => rows.map((r) => `${r.textContent} (${r.getAttribute('data-detail') ?? 'no detail'})`))
  if (failed.length > 0) throw new Error(`transfers failed: ${failed.join('; ')}`)
}

/** Clicks a file's download button and returns the saved file's path. */
export async function downloadThroughUi(page: Page, name: string, timeout = 90_000): Promise<string> {
  const download = page.waitForEvent('download', { timeout })
  await page.getByRole('button', { name: `Download ${name}`, exact: true }).click()
  const d = await download
  const failure = await d.failure()
  if (failure !== null) throw new Error(`download of ${name} failed: ${failure}`)
  const path = await d.path()
  if (path === null) throw new Error(`download of ${name} has no file`)
  return path
}

/** A real PNG (RGB gradient) made without any image library: for album tests. */
export function gradientPng(width: number, height: number): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (bytes: Uint8Array) => {
    let c = 0xffffffff
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: Uint8Array) => {
    const out = Buffer.alloc(12 + data.length)
    out.writeUInt32BE(data.length, 0)
    out.write(type, 4, 'ascii')
    Buffer.from(data).copy(out, 8)
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1)
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = Math.round((x / width) * 255)
      raw[row + 2 + x * 3] = Math.round((y / height) * 255)
      raw[row + 3 + x * 3] = 160
    }
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  return Buffer.concat([
    signature,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0))
  ])
}
