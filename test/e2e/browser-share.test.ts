import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BrowserNet,
  createShare,
  downloadThroughUi,
  gradientPng,
  newPage,
  screenshot,
  signUp,
  startBrowserNet,
  waitForTransfers
} from './browser-helpers.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

const MiB = 1024 * 1024

/** A sidebar section button. */
function section(page: Page, label: string) {
  return page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: label })
}

describe('sharing, folders, trash and the album in Chromium', { timeout: 150_000 }, () => {
  let env: BrowserNet
  let dir: { path: string; cleanup: () => Promise<void> }
  let owner: Page
  let ownerContext: BrowserContext
  let sha: string
  const file = 'report.bin'

  beforeAll(async () => {
    dir = await tempDir('shoal-browser-share-')
    env = await startBrowserNet({ nodes: 4, k: 2, m: 2, segmentSize: '1MiB', trackerArgs: ['--quota', '64MiB'] })
    ;({ page: owner, context: ownerContext } = await newPage(env.browser))
    await signUp(owner, env.ui.url, 'grace@example.com', 'a long enough password')
    const path = join(dir.path, file)
    sha = await randomFile(path, 3 * MiB + 123)
    await owner.getByTestId('file-input').setInputFiles(path)
    await waitForTransfers(owner)
    await owner.locator(`tr[data-name="${file}"]`).waitFor()
  })
  afterAll(async () => {
    await env?.stop()
    await dir?.cleanup()
  })

  it('a password share opens in a fresh browser without an account; wrong password and revoke are refused', async () => {
    const link = await createShare(owner, file, 'open sesame')
    expect(link).toMatch(new RegExp(`^${env.ui.url}/s/[A-Za-z0-9_-]+#w=[A-Za-z0-9_-]+$`))

    const visitor = await newPage(env.browser)
    const page = visitor.page
    await page.goto(link)
    await page.getByText('This file is protected').waitFor()
    await page.getByLabel('Password').fill('not it')
    await page.getByRole('button', { name: 'Unlock' }).click()
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Wrong password.')
    await screenshot(page, 'share-wrong-password')
    await page.getByLabel('Password').fill('open sesame')
    await page.getByRole('button', { name: 'Unlock' }).click()
    await expect(page.getByTestId('shared-name').textContent()).resolves.toBe(file)
    const download = page.waitForEvent('download')
    await page.getByRole('button', { name: 'Download' }).click()
    const saved = await (await download).path()
    expect(await sha256File(saved)).toBe(sha)
    await page.locator('.share-progress[data-state="done"]').waitFor()
    await screenshot(page, 'share-page')

    await section(owner, 'Shared links').click()
    const row = owner.locator('tr[data-share]').first()
    await row.getByRole('button', { name: 'Revoke' }).click()
    await owner.locator('tr[data-status="Revoked"]').waitFor()
    await screenshot(owner, 'shares')

    await page.reload()
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Link revoked')
    await screenshot(page, 'share-revoked')
    await visitor.context.close()
    await section(owner, 'My files').click()
  })

  it('a tampered link says it is damaged and offers nothing to download', async () => {
    const link = await createShare(owner, file)
    const [base, fragment] = link.split('#k=') as [string, string]
    const flipped = `${fragment[0] === 'A' ? 'B' : 'A'}${fragment.slice(1)}`
    const { context, page } = await newPage(env.browser)
    for (const bad of [`${base}#k=${flipped}`, `${base}#k=short`, base]) {
      await page.goto('about:blank')
      await page.goto(bad)
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Damaged link')
      expect(await page.getByRole('button', { name: 'Download' }).count()).toBe(0)
    }
    await screenshot(page, 'share-damaged')
    // The untouched link still works.
    await page.goto('about:blank')
    await page.goto(link)
    await expect(page.getByTestId('shared-name').textContent()).resolves.toBe(file)
    await context.close()
  })

  it('folders: create, move a file in, rename it, trash it and restore it', async () => {
    await owner.getByRole('button', { name: 'New folder' }).click()
    await owner.getByRole('dialog').getByLabel('Folder name').fill('Projects')
    await owner.getByRole('dialog').getByRole('button', { name: 'Create' }).click()
    await owner.locator('tr[data-name="Projects"][data-kind="folder"]').waitFor()

    await owner.getByRole('button', { name: `Move ${file}`, exact: true }).click()
    await owner.getByRole('dialog').getByRole('button', { name: 'Projects' }).click()
    await owner.getByRole('dialog').getByRole('button', { name: 'Move here' }).click()
    await owner.locator(`tr[data-name="${file}"]`).waitFor({ state: 'detached' })
    await owner.locator('tr[data-name="Projects"] button.link').click()
    await owner.locator(`tr[data-name="${file}"]`).waitFor()

    await owner.getByRole('button', { name: `Rename ${file}`, exact: true }).click()
    await owner.getByRole('dialog').getByLabel('New name').fill('final-report.bin')
    await owner.getByRole('dialog').getByRole('button', { name: 'Rename' }).click()
    await owner.locator('tr[data-name="final-report.bin"]').waitFor()
    await screenshot(owner, 'folder')
    expect(await sha256File(await downloadThroughUi(owner, 'final-report.bin'))).toBe(sha)

    await owner.getByRole('button', { name: 'Delete final-report.bin', exact: true }).click()
    await owner.getByText('This folder is empty').waitFor()
    await section(owner, 'Trash').click()
    const trashed = owner.locator('tr[data-name="final-report.bin"]')
    await trashed.waitFor()
    await expect(trashed.locator('td.muted').first().textContent()).resolves.toBe('Projects')
    await screenshot(owner, 'trash')
    await owner.getByRole('button', { name: 'Restore final-report.bin' }).click()
    await owner.getByText('Trash is empty').waitFor()
    await section(owner, 'My files').click()
    await owner.locator('tr[data-name="Projects"] button.link').click()
    await owner.locator('tr[data-name="final-report.bin"]').waitFor()
  })

  it('an uploaded image gets a thumbnail made in the browser and shows in the album by date', async () => {
    const image = join(dir.path, 'sunset.png')
    await writeFile(image, gradientPng(640, 480))
    await section(owner, 'My files').click()
    await owner.getByTestId('file-input').setInputFiles(image)
    await waitForTransfers(owner)
    await owner.locator('tr[data-name="sunset.png"] img.thumb-small').waitFor()
    await section(owner, 'Photos').click()
    const thumb = owner.getByTestId('thumbnail').first()
    await thumb.waitFor()
    const size = await thumb.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight])
    expect(size).toEqual([320, 240])
    const month = new Date().toLocaleDateString('en-US', { year: 'numeric', month: 'long' })
    await expect(owner.locator('.album h2').first().textContent()).resolves.toBe(month)
    await screenshot(owner, 'photos')
    await owner.getByRole('button', { name: 'Open sunset.png' }).click()
    const full = owner.getByTestId('preview-image')
    await full.waitFor()
    expect(await full.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(640)
    await screenshot(owner, 'photo-preview')
    await owner.getByRole('button', { name: 'Close preview' }).click()
  })

  it('a file over the quota is refused before any byte moves', async () => {
    await section(owner, 'My files').click()
    const before = await owner.getByTestId('usage').textContent()
    const transfers = await owner.locator('.transfer').count()
    const big = join(dir.path, 'too-big.bin')
    await writeFile(big, Buffer.alloc(65 * MiB))
    await owner.getByTestId('file-input').setInputFiles(big)
    await expect(owner.getByRole('alert').first().textContent()).resolves.toContain('Not enough space')
    expect(await owner.locator('.transfer').count()).toBe(transfers)
    expect(await owner.getByTestId('usage').textContent()).toBe(before)
    await screenshot(owner, 'over-quota')
  })

  it('an upload cut off by a network loss goes on by itself once back online, and is stored and counted once', async () => {
    await section(owner, 'My files').click()
    await owner.getByRole('button', { name: 'Clear' }).click()
    const path = join(dir.path, 'interrupted.bin')
    const digest = await randomFile(path, 12 * MiB)
    await owner.getByTestId('file-input').setInputFiles(path)
    const bar = owner.locator('.transfer[data-kind="upload"] [role="progressbar"]')
    await owner.waitForFunction(
      () => Number(document.querySelector('.transfer [role="progressbar"]')?.getAttribute('aria-valuenow') ?? 0) >= 8
    )
    await ownerContext.setOffline(true)
    await owner.locator('.transfer[data-state="failed"]').waitFor({ timeout: 60_000 })
    await expect(owner.locator('.transfer-status').textContent()).resolves.toContain('Cannot reach the Shoal tracker')
    const doneBefore = Number(await bar.getAttribute('aria-valuenow'))
    expect(doneBefore).toBeLessThan(100)
    await screenshot(owner, 'upload-interrupted')
    await expect(owner.getByRole('button', { name: 'Retry interrupted.bin' }).count()).resolves.toBe(1)
    // Back online: the upload resumes where it stopped, with no click (Retry does the same by hand).
    await ownerContext.setOffline(false)
    await owner.locator('tr[data-name="interrupted.bin"]').waitFor({ timeout: 60_000 })
    await waitForTransfers(owner)
    expect(await sha256File(await downloadThroughUi(owner, 'interrupted.bin'))).toBe(digest)
    // 3 MiB + 123 B (report), the 102 KiB image and 12 MiB: the interrupted upload is not counted twice.
    await expect(owner.getByTestId('usage').textContent()).resolves.toMatch(/^15\.1 MiB of 64\.0 MiB used/)
  })

  it('a video previews by streaming byte ranges through the service worker, fetched and decrypted on demand', async () => {
    await section(owner, 'My files').click()
    const path = join(dir.path, 'clip.webm')
    await randomFile(path, 5 * MiB + 321)
    const bytes = await readFile(path)
    await owner.getByTestId('file-input').setInputFiles(path)
    await waitForTransfers(owner)
    await owner.locator('tr[data-name="clip.webm"] button.link').click()
    const video = owner.getByTestId('preview-media')
    await video.waitFor()
    const src = await video.getAttribute('src')
    expect(src).toMatch(/^\/__shoal_media\//)
    // Ranges across segment edges (1 MiB segments here) and a suffix range, as a player asks for them.
    for (const [range, start, end] of [
      ['bytes=1048500-1048699', 1048500, 1048699],
      ['bytes=4000000-4000009', 4000000, 4000009],
      [`bytes=-100`, bytes.length - 100, bytes.length - 1]
    ] as const) {
      const answer = await owner.evaluate(
        async ([url, header]) => {
          const response = await fetch(url, { headers: { range: header } })
          return {
            status: response.status,
            contentRange: response.headers.get('content-range'),
            body: [...new Uint8Array(await response.arrayBuffer())]
          }
        },
        [src as string, range] as const
      )
      expect(answer.status).toBe(206)
      expect(answer.contentRange).toBe(`bytes ${start}-${end}/${bytes.length}`)
      expect(Buffer.from(answer.body).equals(bytes.subarray(start, end + 1))).toBe(true)
    }
    await owner.getByRole('button', { name: 'Close preview' }).click()
  })

  it('files dropped on the page upload into the open folder, several at once', async () => {
    await section(owner, 'My files').click()
    await owner.locator('tr[data-name="Projects"] button.link').click()
    const drop = await owner.evaluateHandle(() => {
      const transfer = new DataTransfer()
      transfer.items.add(new File(['first dropped file'], 'notes-a.txt', { type: 'text/plain' }))
      transfer.items.add(new File([new Uint8Array(300_000).fill(7)], 'notes-b.bin'))
      return transfer
    })
    await owner.dispatchEvent('main', 'dragover', { dataTransfer: drop })
    await owner.getByText('Drop to upload to Projects').waitFor()
    await screenshot(owner, 'drop')
    await owner.dispatchEvent('main', 'drop', { dataTransfer: drop })
    await waitForTransfers(owner)
    await owner.locator('tr[data-name="notes-a.txt"]').waitFor()
    await expect(owner.locator('tr[data-name="notes-b.bin"] td.num').textContent()).resolves.toBe('293 KiB')
    expect(await owner.getByText('Drop to upload').count()).toBe(0)

    // Where a browser has no service worker stream, small files are saved from a Blob (forced here).
    await owner.goto(`${env.ui.url}/?save=blob`)
    await owner.locator('tr[data-name="Projects"] button.link').click()
    const saved = await downloadThroughUi(owner, 'notes-b.bin')
    expect(await readFile(saved)).toEqual(Buffer.alloc(300_000, 7))
  })
})
