import { join } from 'node:path'
import { ShoalClient } from '@shoal/client'
import type { ShareView } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { startShoal } from './cli-helpers.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

const KEY_SHAPE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){7}$/

/**
 * `shoal passwd`, `shoal recover` and `shoal recovery-key` as separate processes against a real network. Each
 * step ends with a download of a file uploaded before the first: the file key is wrapped by the master key, so
 * a byte-identical file proves the master key survived every rewrap.
 */
describe('shoal passwd, recover and recovery-key', { timeout: 240_000 }, () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  const email = 'forgetful@example.com'
  /** Each "device" is its own SHOAL_HOME. */
  const device = (name: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    SHOAL_HOME: join(work.path, name),
    SHOAL_TRACKER: net.tracker.url,
    SHOAL_EMAIL: email,
    ...extra
  })
  const shoal = (args: string[], env: NodeJS.ProcessEnv) => startShoal(args, { cwd: work.path, env }).done

  beforeAll(async () => {
    work = await tempDir('shoal-account-')
    net = await Testnet.start({ nodes: 3, k: 2, m: 1, segmentSize: '1MiB' })
  })
  afterAll(async () => {
    await net?.stop()
    await work?.cleanup()
  })

  it('changes the password, resets a forgotten one with the recovery key, and makes a new key', async () => {
    const laptop = device('laptop', { SHOAL_PASSWORD: 'first password' })
    const signup = await shoal(['signup'], laptop)
    expect(signup.code, signup.stderr).toBe(0)
    const recoveryKey = signup.stdout.trim()
    expect(recoveryKey).toMatch(KEY_SHAPE)
    expect(signup.stderr).toContain('it is shown only now')
    const source = join(work.path, 'tax-return.pdf')
    const digest = await randomFile(source, 1_500_000)
    const put = await shoal(['put', source], laptop)
    expect(put.code, put.stderr).toBe(0)
    const phone = device('phone', { SHOAL_PASSWORD: 'first password' })
    expect((await shoal(['login'], phone)).code).toBe(0)

    const readsBack = async (env: NodeJS.ProcessEnv, out: string) => {
      const get = await shoal(['get', 'tax-return.pdf', join(work.path, out)], env)
      expect(get.code, get.stderr).toBe(0)
      expect(await sha256File(join(work.path, out))).toBe(digest)
    }

    // passwd: the current password is checked; the other device is logged out, this one carries on.
    const wrong = await shoal(['passwd'], { ...laptop, SHOAL_PASSWORD: 'guess', SHOAL_NEW_PASSWORD: 'second password' })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/^shoal: wrong email or password \(ERR_WRONG_PASSWORD\)\n$/)
    const passwd = await shoal(['passwd'], { ...laptop, SHOAL_NEW_PASSWORD: 'second password' })
    expect(passwd.code, passwd.stderr).toBe(0)
    await readsBack(laptop, 'after-passwd.pdf')
    const stale = await shoal(['ls'], phone)
    expect(stale.code).toBe(1)
    expect(stale.stderr).toContain('ERR_UNAUTHORIZED')
    expect((await shoal(['login'], phone)).code).toBe(1)
    expect((await shoal(['login'], { ...phone, SHOAL_PASSWORD: 'second password' })).code).toBe(0)

    // recover, on a new device, after forgetting the password: a wrong key first.
    const tablet = device('tablet', { SHOAL_NEW_PASSWORD: 'third password' })
    const guessed = await shoal(['recover'], {
      ...tablet,
      SHOAL_RECOVERY_KEY: '7K3Q-9XWB-0000-0000-0000-0000-0000-0000'
    })
    expect(guessed.code).toBe(1)
    expect(guessed.stderr).toMatch(/^shoal: wrong email or recovery key \(ERR_WRONG_RECOVERY_KEY\)\n$/)
    const typo = await shoal(['recover'], { ...tablet, SHOAL_RECOVERY_KEY: 'not a key' })
    expect(typo.stderr).toMatch(/^shoal: that is not a recovery key .*\(ERR_INVALID_INPUT\)\n$/)
    const recover = await shoal(['recover'], { ...tablet, SHOAL_RECOVERY_KEY: recoveryKey.toLowerCase() })
    expect(recover.code, recover.stderr).toBe(0)
    await readsBack(tablet, 'after-recover.pdf')
    expect((await shoal(['ls'], laptop)).code).toBe(1)
    expect((await shoal(['login'], { ...laptop, SHOAL_PASSWORD: 'third password' })).code).toBe(0)

    // recovery-key: a new key, shown once; the old one stops working.
    const made = await shoal(['recovery-key'], { ...laptop, SHOAL_PASSWORD: 'third password' })
    expect(made.code, made.stderr).toBe(0)
    const next = made.stdout.trim()
    expect(next).toMatch(KEY_SHAPE)
    expect(next).not.toBe(recoveryKey)
    const old = await shoal(['recover'], {
      ...device('kiosk'),
      SHOAL_RECOVERY_KEY: recoveryKey,
      SHOAL_NEW_PASSWORD: 'x password'
    })
    expect(old.stderr).toContain('ERR_WRONG_RECOVERY_KEY')
    const kiosk = device('kiosk', { SHOAL_RECOVERY_KEY: next, SHOAL_NEW_PASSWORD: 'fourth password' })
    expect((await shoal(['recover'], kiosk)).code).toBe(0)
    await readsBack(kiosk, 'after-new-key.pdf')
  })

  it("shoal shares shows each link's downloads; shoal share-expiry changes its expiry, keeping the link", async () => {
    const env = device('sharer', { SHOAL_EMAIL: 'sharer@example.com', SHOAL_PASSWORD: 'sharer password' })
    expect((await shoal(['signup'], env)).code).toBe(0)
    const source = join(work.path, 'slides.pdf')
    await randomFile(source, 200_000)
    const put = await shoal(['put', source], env)
    expect(put.code, put.stderr).toBe(0)
    const client = await ShoalClient.login({
      tracker: net.tracker.url,
      email: 'sharer@example.com',
      password: 'sharer password'
    })
    let id: string
    try {
      id = (await client.share('slides.pdf', { expiresAt: Date.now() + 3_600_000 })).share.id
    } finally {
      await client.stop()
    }
    // Two visitors start a download (their first grants request names segment 0).
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${net.tracker.url}/v1/shares/${id}/grants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: 0, to: 1 })
      })
      expect(res.status).toBe(200)
    }
    const listed = await shoal(['shares'], env)
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toMatch(
      new RegExp(`^${id}  until \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} +2 downloads  slides\\.pdf\\n$`)
    )

    const never = await shoal(['share-expiry', id, 'never'], env)
    expect(never.code, never.stderr).toBe(0)
    expect(never.stderr).toBe(`Link ${id}: active, no expiry\n`)
    const json = async () => (JSON.parse((await shoal(['shares', '--json'], env)).stdout) as ShareView[])[0]
    expect((await json())?.expiresAt).toBeUndefined()
    const week = await shoal(['share-expiry', id, '7d'], env)
    expect(week.code, week.stderr).toBe(0)
    const expiresAt = (await json())?.expiresAt ?? 0
    expect(Math.abs(expiresAt - (Date.now() + 7 * 86_400_000))).toBeLessThan(120_000)
    for (const bad of ['2001-01-01', 'soon', '0d']) {
      const run = await shoal(['share-expiry', id, bad], env)
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/is not a future expiry.*\(ERR_INVALID_INPUT\)\n$/)
    }
    const unknown = await shoal(['share-expiry', 'AAAAAAAAAAAAAAAAAAAAAA', 'never'], env)
    expect(unknown.stderr).toContain('ERR_SHARE_NOT_FOUND')
  })
})
