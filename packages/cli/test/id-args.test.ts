import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { runCli } from '../src/cli.ts'

/** Runs the CLI with no session saved: a command that parsed gets as far as asking for one. */
async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  const home = await mkdtemp(join(tmpdir(), 'shoal-cli-args-'))
  const stderr = new PassThrough()
  let text = ''
  stderr.on('data', (c: Buffer) => {
    text += c.toString()
  })
  try {
    const code = await runCli(argv, {
      env: { SHOAL_HOME: home, SHOAL_TRACKER: 'http://127.0.0.1:9' },
      stdin: new PassThrough(),
      stdout: new PassThrough() as unknown as NodeJS.WriteStream,
      stderr: stderr as unknown as NodeJS.WriteStream
    })
    return { code, stderr: text }
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}

describe('ids given as arguments', () => {
  it('share-expiry takes a link id that starts with "-" (base64url: one in 64), with options anywhere', async () => {
    for (const argv of [
      ['share-expiry', '-x1Ab_c', '7d'],
      ['share-expiry', '-x1Ab_c', '7d', '--tracker', 'http://127.0.0.1:9'],
      ['share-expiry', '--tracker', 'http://127.0.0.1:9', 'Zz9-', 'never']
    ]) {
      const result = await run(argv)
      // Past parsing: it stops at the missing session (1), not at the arguments (2, "Unknown option").
      expect(result.stderr).not.toMatch(/Unknown option|usage/)
      expect(result.code, result.stderr).toBe(1)
    }
  })

  it('a missing id is still a usage error', async () => {
    const result = await run(['share-expiry', '7d'])
    expect(result.code).toBe(2)
  })
})
