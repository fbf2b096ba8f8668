import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acknowledgeRecoveryKey, type BrowserNet, newPage, startBrowserNet } from './browser-helpers.ts'
import { waitFor } from './helpers.ts'

/** Sign-up in Chromium against a tracker that verifies emails: the page asks for the mailed code (issue 12). */
describe('web UI: sign-up with an emailed code', { timeout: 300_000 }, () => {
  let env: BrowserNet

  beforeAll(async () => {
    env = await startBrowserNet({ nodes: 3, k: 2, m: 1, trackerArgs: ['--verify-email'] })
  })
  afterAll(async () => {
    await env?.stop()
  })

  it('shows a code step; a wrong code is refused, the mailed one opens the drive', async () => {
    const outbox = join(env.net.tracker.dataDir, 'outbox')
    const codeFor = (to: string, nth: number) =>
      waitFor(`mail ${nth} to ${to}`, async () => {
        const names = (await readdir(outbox).catch(() => [])).filter((n) => n.endsWith('.json')).sort()
        const mails = await Promise.all(names.map(async (n) => JSON.parse(await readFile(join(outbox, n), 'utf8'))))
        const mine = mails.filter((m: { to: string }) => m.to === to)
        return mine.length >= nth ? /code is (\d{6})/.exec(mine[nth - 1].text)?.[1] : undefined
      })
    const email = 'browser-user@example.com'
    const { context, page } = await newPage(env.browser)
    try {
      const signUp = async () => {
        await page.getByRole('tab', { name: 'Create account' }).click()
        await page.getByLabel('Email').fill(email)
        await page.getByLabel('Password', { exact: true }).fill('browser password')
        await page.getByLabel('Repeat password').fill('browser password')
        await page.getByRole('button', { name: 'Create account', exact: true }).click()
      }
      await page.goto(env.ui.url)
      await page.getByRole('tab', { name: 'Create account' }).click()
      await page.getByText('We will email you a code').waitFor()
      await signUp()
      const step = page.getByRole('form', { name: 'Confirm your email' })
      await step.waitFor()
      const first = await codeFor(email, 1)
      await step.getByLabel('Code from the email').fill(first === '000000' ? '111111' : '000000')
      await step.getByRole('button', { name: 'Confirm' }).click()
      await page.getByRole('alert').getByText('That code is wrong or has expired.', { exact: false }).waitFor()

      // Back on the form: sign up again for a new code, and this time enter it.
      await signUp()
      await step.waitFor()
      const second = await codeFor(email, 2)
      await step.getByLabel('Code from the email').fill(second)
      await step.getByRole('button', { name: 'Confirm' }).click()
      expect(await acknowledgeRecoveryKey(page)).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/)
      await page.getByRole('navigation', { name: 'Sections' }).waitFor()
    } finally {
      await context.close()
    }
  })
})
