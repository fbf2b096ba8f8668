import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Testnet } from '../src/index.ts'
import { randomFile, sha256File, tempDir } from './helpers.ts'

const SHOAL = fileURLToPath(new URL('../../packages/cli/bin/shoal.js', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

describe('the shoal command against a real network', () => {
  let net: Testnet
  let work: Awaited<ReturnType<typeof tempDir>>
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    work = await tempDir('shoal-cli-')
    net = await Testnet.start({ nodes: 4, k: 2, m: 2 })
    env = {
      SHOAL_HOME: join(work.path, 'home'),
      SHOAL_TRACKER: net.tracker.url,
      SHOAL_EMAIL: 'cli@example.com',
      SHOAL_PASSWORD: 'cli-password-1'
    }
  })

  afterAll(async () => {
    await net?.stop()
    await work?.cleanup()
  })

  function shoal(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [SHOAL, ...args], {
        cwd: work.path,
        env: { ...process.env, ...env, ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString()
      })
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString()
      })
      child.once('error', reject)
      child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    })
  }

  it('signup, put, ls, get round-trips a file; rm removes it', async () => {
    expect((await shoal(['signup'])).code).toBe(0)
    const sha = await randomFile(join(work.path, 'photo.raw'), 9 * 1024 * 1024 + 123)
    const put = await shoal(['put', 'photo.raw', 'album/photo.raw'])
    expect(put.stderr).toContain('Uploaded album/photo.raw')
    expect(put.code).toBe(0)

    const ls = await shoal(['ls', '--json'])
    expect(ls.code).toBe(0)
    const entries = JSON.parse(ls.stdout) as { name: string; size: number }[]
    expect(entries.map((e) => [e.name, e.size])).toEqual([['album/photo.raw', 9 * 1024 * 1024 + 123]])
    expect((await shoal(['ls'])).stdout).toContain('album/photo.raw')

    const get = await shoal(['get', 'album/photo.raw', 'copy.raw'])
    expect(get.code).toBe(0)
    expect(await sha256File(join(work.path, 'copy.raw'))).toBe(sha)

    // An existing local file is not replaced without --force.
    const again = await shoal(['get', 'album/photo.raw', 'copy.raw'])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('ERR_CONFLICT')
    expect((await shoal(['get', 'album/photo.raw', 'copy.raw', '--force'])).code).toBe(0)

    // Uploading the same name again needs --overwrite.
    const dup = await shoal(['put', 'photo.raw', 'album/photo.raw'])
    expect(dup.code).toBe(1)
    expect(dup.stderr).toContain('ERR_CONFLICT')

    expect((await shoal(['rm', 'album/photo.raw'])).code).toBe(0)
    expect(JSON.parse((await shoal(['ls', '--json'])).stdout)).toEqual([])
  })

  it('remembers the rates it measured from nodes for the next run, and shrugs off a damaged record', async () => {
    const sha = await randomFile(join(work.path, 'rates.raw'), 48 * 1024 * 1024)
    expect((await shoal(['put', 'rates.raw', 'rates.raw'])).code).toBe(0)
    expect((await shoal(['get', 'rates.raw', 'rates-copy.raw'])).code).toBe(0)
    const file = join(work.path, 'home', 'node-rates.json')
    const saved = JSON.parse(await readFile(file, 'utf8')) as { v: number; rates: [string, number, number][] }
    const nodes = new Set(net.nodes.map((n) => n.peerId))
    expect(saved.v).toBe(1)
    expect(saved.rates.length).toBeGreaterThan(0)
    for (const [peerId, bytesPerMs] of saved.rates) {
      expect(nodes.has(peerId)).toBe(true)
      expect(bytesPerMs).toBeGreaterThan(0)
    }

    await writeFile(file, '{"v":1,"rates":[["not-a-node",')
    const again = await shoal(['get', 'rates.raw', 'rates-copy.raw', '--force'])
    expect(again.code).toBe(0)
    expect(await sha256File(join(work.path, 'rates-copy.raw'))).toBe(sha)
    expect((JSON.parse(await readFile(file, 'utf8')) as { rates: unknown[] }).rates.length).toBeGreaterThan(0)
    expect((await shoal(['rm', 'rates.raw'])).code).toBe(0)
  })

  it('logout ends the session on the tracker, not only on this device', async () => {
    // An account of its own: --all below ends every session of it.
    const home = { SHOAL_HOME: join(work.path, 'home-logout'), SHOAL_EMAIL: 'logout@example.com' }
    expect((await shoal(['signup'], home)).code).toBe(0)
    const saved = JSON.parse(await readFile(join(home.SHOAL_HOME, 'session.json'), 'utf8')) as { token: string }
    const account = () =>
      fetch(`${net.tracker.url}/v1/account`, { headers: { authorization: `Bearer ${saved.token}` } })
    expect((await account()).status).toBe(200)
    const out = await shoal(['logout'], home)
    expect(out).toMatchObject({ code: 0, stderr: 'Logged out\n' })
    expect((await account()).status).toBe(401)
    const ls = await shoal(['ls'], home)
    expect(ls.code).toBe(1)
    expect(ls.stderr).toMatch(/not logged in/)
    // --all ends the other device's session too.
    const other = { SHOAL_HOME: join(work.path, 'home-other'), SHOAL_EMAIL: 'logout@example.com' }
    expect((await shoal(['login'], other)).code).toBe(0)
    expect((await shoal(['login'], home)).code).toBe(0)
    expect((await shoal(['logout', '--all'], home)).code).toBe(0)
    expect((await shoal(['ls'], other)).stderr).toMatch(/ERR_UNAUTHORIZED/)
  })

  it('errors are one clear line with a code and a non-zero exit', async () => {
    const missing = await shoal(['get', 'nope'])
    expect(missing.code).toBe(1)
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
    expect(missing.stderr).toMatch(/^shoal: .*ERR_OBJECT_NOT_FOUND/)

    const badFile = await shoal(['put', 'does-not-exist.bin'])
    expect(badFile.code).toBe(1)
    expect(badFile.stderr).toContain('ERR_INVALID_INPUT')

    const wrong = await shoal(['login'], { SHOAL_PASSWORD: 'wrong-password' })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('ERR_WRONG_PASSWORD')

    const unknown = await shoal(['frobnicate'])
    expect(unknown.code).toBe(2)

    const other = await shoal(['ls'], { SHOAL_HOME: join(work.path, 'nobody') })
    expect(other.code).toBe(1)
    expect(other.stderr).toContain('not logged in')
  })
})
