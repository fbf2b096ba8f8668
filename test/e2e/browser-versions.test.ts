import { createHash, randomBytes } from 'node:crypto'
import { ShoalClient } from '@shoal/client'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrowserNet, newPage, screenshot, signUp, startBrowserNet } from './browser-helpers.ts'
import { sha256File } from './helpers.ts'

const MiB = 1024 * 1024
const EMAIL = 'versions@example.com'
const PASSWORD = 'versions in the browser'

function section(page: Page, label: string) {
  return page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: label })
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** The versions panel of the web UI (docs/versions.md) against a real tracker and storage nodes, in Chromium. */
describe('file versions in Chromium', { timeout: 240_000 }, () => {
  let env: BrowserNet
  let page: Page
  let client: ShoalClient
  const first = randomBytes(MiB + 11)
  const second = randomBytes(300_007)

  beforeAll(async () => {
    env = await startBrowserNet({ nodes: 4, k: 2, m: 2, segmentSize: '1MiB' })
    ;({ page } = await newPage(env.browser))
    await signUp(page, env.ui.url, EMAIL, PASSWORD)
    // Another device overwrites the file (the web UI itself never overwrites: it picks a free name).
    client = await ShoalClient.login({ tracker: env.net.tracker.url, email: EMAIL, password: PASSWORD })
    await client.put('Reports/q3.bin', [first], first.length)
    await client.put('Reports/q3.bin', [second], second.length, { overwrite: true })
  })
  afterAll(async () => {
    await client?.stop()
    await env?.stop()
  })

  const rows = (p: Page) =>
    p
      .getByTestId('versions')
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-current')))

  it('lists a file’s versions, downloads an old one and restores it without losing the current one', async () => {
    await page.goto(`${env.ui.url}/?folder=Reports%2F`)
    await page.getByRole('button', { name: 'Versions of q3.bin', exact: true }).click()
    const dialog = page.getByRole('dialog', { name: /Versions of/ })
    await dialog.getByTestId('versions').waitFor()
    expect(await rows(page)).toEqual(['true', 'false'])
    await screenshot(page, 'versions')

    // The old version downloads with its own bytes.
    const old = dialog.locator('tr[data-current="false"]')
    const oldId = await old.getAttribute('data-version')
    const download = page.waitForEvent('download', { timeout: 90_000 })
    await old.getByRole('button', { name: /^Download the version of/ }).click()
    const saved = await (await download).path()
    expect(await sha256File(saved as string)).toBe(sha(first))

    // Restore: the old one becomes current, the one it replaced stays as a version.
    await old.getByRole('button', { name: /^Restore the version of/ }).click()
    await dialog.locator(`tr[data-version="${oldId}"][data-current="true"]`).waitFor()
    expect(await rows(page)).toEqual(['true', 'false'])
    const versions = await client.versions('Reports/q3.bin')
    expect(versions.map((v) => [v.id === oldId, v.current, v.size])).toEqual([
      [true, true, first.length],
      [false, false, second.length]
    ])
    await dialog.getByRole('button', { name: 'Close' }).click()
    // The listing shows the restored size once it refreshed.
    await page.locator('tr[data-name="q3.bin"] td.size', { hasText: '1.0 MiB' }).waitFor()
  })

  it('the account page shows and sets the version policy', async () => {
    await section(page, 'Account').click()
    const card = page.getByRole('region', { name: 'Versions' })
    // Loaded from the tracker: wait for the answer, not for time.
    await card
      .getByTestId('versions-summary')
      .filter({ hasText: /^1 older version kept, 293 KiB/ })
      .waitFor()
    await expect(card.getByLabel(/Keep the last/).inputValue()).resolves.toBe('10')
    await expect(card.getByLabel(/For … days/).inputValue()).resolves.toBe('30')
    await card.getByLabel(/Keep the last/).fill('2')
    await card.getByLabel(/For … days/).fill('')
    await card.getByRole('button', { name: 'Save version policy' }).click()
    await card.getByText('Saved.').waitFor()
    expect(await client.versionPolicy()).toMatchObject({ keep: 2, days: null, versions: 1 })
    // Bad input is refused with the tracker's reason, and the policy stays as it was.
    await card.getByLabel(/Keep the last/).fill('5000')
    await card.getByRole('button', { name: 'Save version policy' }).click()
    await card.getByRole('alert').waitFor()
    expect(await client.versionPolicy()).toMatchObject({ keep: 2, days: null })
  })
})
