import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runAdminCli } from '../src/admin-cli.ts'

/** A stand-in for the tracker's admin API that records what it was asked (the real one: test/e2e/deploy.test.ts). */
describe('shoal-tracker admin: ids', () => {
  let server: Server
  let url: string
  const asked: string[] = []
  beforeAll(async () => {
    server = createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ id: decodeURIComponent((req.url ?? '').split('/')[4] ?? '') }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const run = async (argv: string[]) => {
    let stdout = ''
    let stderr = ''
    const code = await runAdminCli(
      argv,
      { SHOAL_TRACKER: url, SHOAL_ADMIN_TOKEN: 'token' },
      (t) => {
        stdout += t
      },
      (t) => {
        stderr += t
      }
    )
    return { code, stdout, stderr }
  }

  it('takes an id that starts with "-" (base64url: one id in 64), before or after the options', async () => {
    asked.length = 0
    const first = await run(['takedown', '-x1Ab_c', '--reason', 'report 1'])
    expect(first.code, first.stderr).toBe(0)
    const after = await run(['restore', '--reason', 'counter-notice', 'Zz9-'])
    expect(after.code, after.stderr).toBe(0)
    expect(asked).toEqual(['POST /v1/admin/shares/-x1Ab_c/takedown', 'POST /v1/admin/shares/Zz9-/restore'])
  })

  it('refuses a missing or second id as a usage error, in one line', async () => {
    for (const argv of [
      ['takedown', '--reason', 'x'],
      ['takedown', 'a', 'b', '--reason', 'x']
    ]) {
      const result = await run(argv)
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/^shoal-tracker admin: takedown needs one id/)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
    }
  })
})
