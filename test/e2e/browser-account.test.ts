import { ShoalClient } from '@shoal/client'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  acknowledgeRecoveryKey,
  type BrowserNet,
  createShare,
  newPage,
  signIn,
  startBrowserNet,
  waitForTransfers
} from './browser-helpers.ts'

const EMAIL = 'forgetful@example.com'
const KEY_SHAPE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/

function section(page: Page, label: string) {
  return page.getByRole('navigation', { name: 'Sections' }).getByRole('button', { name: label })
}

/**
 * Password change and account recovery in Chromium, as a person does them: the recovery key shown once at
 * sign-up, a password changed on the account page, a forgotten one reset with the key. A file uploaded first
 * must still open by name after each step: its name is sealed under the master key, so that proves the master
 * key came through every rewrap intact.
 */
describe('web UI: password and recovery key, link management, trash purge', { timeout: 300_000 }, () => {
  let env: BrowserNet

  beforeAll(async () => {
    env = await startBrowserNet({ nodes: 3, k: 2, m: 1 })
  })
  afterAll(async () => {
    await env?.stop()
  })

  it('shows the key once, changes the password, and resets a forgotten one with the key', async () => {
    const { context, page } = await newPage(env.browser)
    try {
      await page.goto(env.ui.url)
      await page.getByRole('tab', { name: 'Create account' }).click()
      await page.getByLabel('Email').fill(EMAIL)
      await page.getByLabel('Password', { exact: true }).fill('first password')
      await page.getByLabel('Repeat password').fill('first password')
      await page.getByRole('button', { name: 'Create account', exact: true }).click()
      const recoveryKey = await acknowledgeRecoveryKey(page)
      expect(recoveryKey).toMatch(KEY_SHAPE)

      await page.getByTestId('file-input').setInputFiles({
        name: 'diary.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('dear diary')
      })
      await waitForTransfers(page)
      await page.locator('tr[data-name="diary.txt"]').waitFor()

      // Change the password on the account page; a wrong current password is refused.
      await section(page, 'Account').click()
      const form = page.getByRole('form', { name: 'Change password' })
      await form.getByLabel('Current password').fill('not my password')
      await form.getByLabel('New password', { exact: true }).fill('second password')
      await form.getByLabel('Repeat new password').fill('second password')
      await form.getByRole('button', { name: 'Change password' }).click()
      await expect.poll(() => form.getByRole('alert').textContent()).toBe('Wrong current password.')
      await form.getByLabel('Current password').fill('first password')
      await form.getByRole('button', { name: 'Change password' }).click()
      await form.getByRole('status').getByText('Password changed').waitFor()
      await expect.poll(() => page.getByTestId('recovery-status').textContent()).toContain('A recovery key is set up')

      await page.getByRole('button', { name: 'Sign out' }).click()
      await signIn(page, env.ui.url, EMAIL, 'first password')
      await page.getByRole('alert').getByText('Wrong email or password.').waitFor()
      await signIn(page, env.ui.url, EMAIL, 'second password')
      await page.locator('tr[data-name="diary.txt"]').waitFor()

      // Forgotten: reset with the recovery key (a wrong key first).
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.getByRole('button', { name: 'Forgot your password?' }).click()
      const reset = page.getByRole('form', { name: 'Reset password' })
      await reset.getByLabel('Email').fill(EMAIL)
      await reset.getByLabel('Recovery key').fill('7K3Q-9XWB-0000-0000-0000-0000-0000-0000')
      await reset.getByLabel('New password').fill('third password')
      await reset.getByLabel('Repeat password').fill('third password')
      await reset.getByRole('button', { name: 'Set new password' }).click()
      await reset.getByRole('alert').getByText('Wrong email or recovery key.').waitFor()
      // Typed as a person would copy it from paper: lower case, spaces for dashes.
      await reset.getByLabel('Recovery key').fill(recoveryKey.toLowerCase().replaceAll('-', ' '))
      await reset.getByRole('button', { name: 'Set new password' }).click()
      await page.locator('tr[data-name="diary.txt"]').waitFor()

      await page.getByRole('button', { name: 'Sign out' }).click()
      await signIn(page, env.ui.url, EMAIL, 'third password')
      await page.locator('tr[data-name="diary.txt"]').waitFor()

      // A new recovery key on demand replaces the old one.
      await section(page, 'Account').click()
      const make = page.getByRole('form', { name: 'New recovery key' })
      await make.getByLabel('Password').fill('third password')
      await make.getByRole('button', { name: 'Make a new recovery key' }).click()
      const next = await acknowledgeRecoveryKey(page)
      expect(next).toMatch(KEY_SHAPE)
      expect(next).not.toBe(recoveryKey)
    } finally {
      await context.close()
    }
  })

  it('link management: a link shows its downloads and its expiry changes without a new link', async () => {
    const { context, page } = await newPage(env.browser)
    const visitor = await newPage(env.browser)
    try {
      await signIn(page, env.ui.url, EMAIL, 'third password')
      await page.locator('tr[data-name="diary.txt"]').waitFor()
      const link = await createShare(page, 'diary.txt')
      for (let i = 0; i < 2; i++) {
        await visitor.page.goto('about:blank')
        await visitor.page.goto(link)
        await visitor.page.getByTestId('shared-name').waitFor()
        const download = visitor.page.waitForEvent('download')
        await visitor.page.getByRole('button', { name: 'Download' }).click()
        await download
        await visitor.page.locator('.share-progress[data-state="done"]').waitFor()
      }

      await section(page, 'Shared links').click()
      const row = page.locator('tr[data-share]').first()
      // A preview on the share page may start a download of its own: at least the two clicked.
      await expect
        .poll(async () => Number(await row.getByTestId('share-downloads').textContent()))
        .toBeGreaterThanOrEqual(2)
      await expect.poll(() => row.getAttribute('data-status')).toBe('Active')

      await row.getByRole('button', { name: 'Expiry…' }).click()
      const dialog = page.getByRole('dialog', { name: 'Link expiry' })
      await dialog.getByLabel('Never expires').uncheck()
      await dialog.getByLabel('Works through').fill('2099-12-31')
      await dialog.getByRole('button', { name: 'Save' }).click()
      await expect.poll(() => row.getAttribute('data-status')).toMatch(/^Until /)
      // The same link still opens.
      await visitor.page.goto('about:blank')
      await visitor.page.goto(link)
      await visitor.page.getByTestId('shared-name').waitFor()

      await row.getByRole('button', { name: 'Expiry…' }).click()
      await dialog.getByLabel('Never expires').check()
      await dialog.getByRole('button', { name: 'Save' }).click()
      await expect.poll(() => row.getAttribute('data-status')).toBe('Active')
    } finally {
      await visitor.context.close()
      await context.close()
    }
  })

  it('the trash empties itself: items trashed over 30 days ago are deleted for good, recent ones stay', async () => {
    const day = 24 * 3_600_000
    const sdk = await ShoalClient.login({ tracker: env.net.tracker.url, email: EMAIL, password: 'third password' })
    try {
      const text = (t: string) => [new TextEncoder().encode(t)]
      await sdk.put('.trash/0a0b0c0d0e0f/old-draft.txt', text('old draft'), 9, {
        meta: { trash: { from: 'old-draft.txt', at: Date.now() - 31 * day } }
      })
      await sdk.put('.trash/0f0e0d0c0b0a/recent.txt', text('recent'), 6, {
        meta: { trash: { from: 'recent.txt', at: Date.now() - day } }
      })
      const { context, page } = await newPage(env.browser)
      try {
        await signIn(page, env.ui.url, EMAIL, 'third password')
        await page.locator('tr[data-name="diary.txt"]').waitFor()
        await expect
          .poll(async () => (await sdk.list()).map((e) => e.name).filter((n) => n.startsWith('.trash/')), {
            timeout: 30_000
          })
          .toEqual(['.trash/0f0e0d0c0b0a/recent.txt'])
        await section(page, 'Trash').click()
        await page.locator('tr[data-name="recent.txt"]').waitFor()
        expect(await page.locator('tr[data-name="old-draft.txt"]').count()).toBe(0)
      } finally {
        await context.close()
      }
    } finally {
      await sdk.stop()
    }
  })
})
