import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ShoalClient } from '@shoal/client'
import { ErrorCode, randomBytes, toBase64Url } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { startShoal } from './cli-helpers.ts'
import { randomFile, sha256File, tempDir, waitFor } from './helpers.ts'

/**
 * Issue 12, sign-up: with `--verify-email`, sign-up must not tell whether an email is registered. The attack
 * runs against a real tracker process; the codes travel through its outbox (the mail folder a local operator
 * reads), as a user's mail would.
 */
describe('sign-up with email verification on a real tracker', { timeout: 240_000 }, () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  const outbox = () => join(net.tracker.dataDir, 'outbox')
  const mails = async (): Promise<{ to: string; subject: string; text: string }[]> => {
    const names = (await readdir(outbox()).catch(() => [])).filter((n) => n.endsWith('.json')).sort()
    return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(outbox(), n), 'utf8'))))
  }
  const codeFor = (to: string): Promise<string> =>
    waitFor(`a code mailed to ${to}`, async () => {
      const mine = (await mails()).filter((m) => m.to === to)
      return /code is (\d{6})/.exec(mine.at(-1)?.text ?? '')?.[1]
    })

  beforeAll(async () => {
    work = await tempDir('shoal-verify-')
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '1MiB', trackerArgs: ['--verify-email'] })
  })
  afterAll(async () => {
    await net?.stop()
    await work?.cleanup()
  })

  it('a registered email gets the same status, headers, body shape and time as a new one', async () => {
    const victim = 'victim@example.com'
    await (
      await ShoalClient.signup({
        tracker: net.tracker.url,
        email: victim,
        password: 'victim password',
        code: () => codeFor(victim)
      })
    ).stop()

    const probe = async (email: string) => {
      const started = performance.now()
      const response = await fetch(`${net.tracker.url}/v1/accounts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, authKey: toBase64Url(randomBytes(32)), wrappedMasterKey: 'bWFzdGVy' })
      })
      const body = (await response.json()) as Record<string, unknown>
      const ms = performance.now() - started
      const headers = [...response.headers.keys()].filter((h) => h !== 'date' && h !== 'x-request-id').sort()
      return { status: response.status, headers, length: response.headers.get('content-length'), body, ms }
    }
    // Same length, so that not even the body's size differs.
    const fresh = ['nobod1@example.com', 'nobod2@example.com', 'nobod3@example.com']
    const taken: Awaited<ReturnType<typeof probe>>[] = []
    const unknown: Awaited<ReturnType<typeof probe>>[] = []
    for (const email of fresh) {
      taken.push(await probe(victim))
      unknown.push(await probe(email))
    }
    for (const [i, a] of taken.entries()) {
      const b = unknown[i] as (typeof unknown)[number]
      expect(a.status).toBe(202)
      expect(b.status).toBe(202)
      expect(a.headers).toEqual(b.headers)
      expect(a.length).toBe(b.length)
      expect(Object.keys(a.body).sort()).toEqual(Object.keys(b.body).sort())
      expect(a.body).toMatchObject({ verification: 'email', email: victim })
      expect(b.body.verification).toBe('email')
      expect(Math.abs((a.body.expiresAt as number) - (b.body.expiresAt as number))).toBeLessThan(60_000)
    }
    // The same scrypt work on both paths: the medians stay within a small factor of each other.
    const median = (runs: { ms: number }[]) => runs.map((r) => r.ms).sort((x, y) => x - y)[1] as number
    const ratio = median(taken) / median(unknown)
    expect(ratio).toBeGreaterThan(1 / 3)
    expect(ratio).toBeLessThan(3)

    // Only the mailbox learns the difference: a warning for the victim, codes for the others.
    const all = await mails()
    expect(all.filter((m) => m.to === victim && /tried to sign up/.test(m.subject))).toHaveLength(3)
    expect(all.filter((m) => m.to === victim && /code is \d{6}/.test(m.text))).toHaveLength(1)
    // And the victim's account is untouched: the password still opens it.
    await (await ShoalClient.login({ tracker: net.tracker.url, email: victim, password: 'victim password' })).stop()
  })

  it('shoal signup mails a code, and shoal signup --code opens the account: files go up and come back', async () => {
    const email = 'cli-user@example.com'
    const env = {
      SHOAL_HOME: join(work.path, 'laptop'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: email,
      SHOAL_PASSWORD: 'cli password'
    }
    const shoal = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      startShoal(args, { cwd: work.path, env: { ...env, ...extra } }).done

    const first = await shoal(['signup'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toContain('shoal signup --code')
    expect(first.stdout).toBe('')
    // Nothing is signed in and no account exists until the code comes back.
    expect((await shoal(['ls'])).code).toBe(1)
    expect((await shoal(['login'])).stderr).toContain(ErrorCode.WRONG_PASSWORD)

    const code = await codeFor(email)
    const wrong = await shoal(['signup', '--code', code === '000000' ? '111111' : '000000'])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain(ErrorCode.VERIFICATION_FAILED)
    const done = await shoal(['signup', '--code', code])
    expect(done.code, done.stderr).toBe(0)
    expect(done.stderr).toContain(`Signed up as ${email}`)
    expect(done.stdout.trim()).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/)

    const source = join(work.path, 'notes.bin')
    const digest = await randomFile(source, 300_000)
    const put = await shoal(['put', source])
    expect(put.code, put.stderr).toBe(0)
    const get = await shoal(['get', 'notes.bin', join(work.path, 'back.bin')])
    expect(get.code, get.stderr).toBe(0)
    expect(await sha256File(join(work.path, 'back.bin'))).toBe(digest)

    // The recovery key shown at confirmation is the account's: it resets the password.
    const recovered = await shoal(['recover'], {
      SHOAL_RECOVERY_KEY: done.stdout.trim(),
      SHOAL_NEW_PASSWORD: 'new cli password',
      SHOAL_HOME: join(work.path, 'phone')
    })
    expect(recovered.code, recovered.stderr).toBe(0)

    // Signing up the same email again: the same words on the terminal, and no second code to anyone.
    const again = await shoal(['signup'], { SHOAL_HOME: join(work.path, 'intruder'), SHOAL_PASSWORD: 'other one' })
    expect(again.code).toBe(0)
    expect(again.stderr.replace(/\d+ min/, 'N min')).toBe(first.stderr.replace(/\d+ min/, 'N min'))
    expect((await mails()).filter((m) => m.to === email && /code is/.test(m.text))).toHaveLength(1)
  })
})
