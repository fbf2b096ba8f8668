import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { InfoResponse } from '@shoal/core'
import { describe, expect, it, onTestFinished } from 'vitest'

const BIN = fileURLToPath(new URL('../bin/shoal-tracker.js', import.meta.url))

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-tracker-bin-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function run(args: string[], env: Record<string, string> = {}): ChildProcess {
  const { SHOAL_TRACKER_DATA: _d, SHOAL_TRACKER_PORT: _p, ...base } = process.env
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return child
}

/** Resolves with the first JSON line whose msg is "ready", as the testnet helper waits for it. */
function ready(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const value = JSON.parse(line) as Record<string, unknown>
        if (value.msg === 'ready') resolve(value)
      } catch {
        reject(new Error(`not a JSON line: ${line}`))
      }
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before ready`)))
  })
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stderr }
}

describe('shoal-tracker start', () => {
  it('logs a ready line with its URL, serves, and exits 0 on SIGTERM', async () => {
    const dir = await tempDir()
    const child = run([
      'start',
      '--data',
      dir,
      '--port',
      '0',
      '--k',
      '3',
      '--m',
      '2',
      '--segment-size',
      '1MiB',
      '--heartbeat-interval',
      '1s'
    ])
    const line = await ready(child)
    expect(line.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const info = (await (await fetch(`${line.url}/v1/info`)).json()) as InfoResponse
    expect(info.policy).toEqual({ k: 3, m: 2, segmentSize: 1024 * 1024, minCommitPieces: 5 })
    const exit = exitOf(child)
    child.kill('SIGTERM')
    expect((await exit).code).toBe(0)
  })

  it('chooses layouts from the nodes online unless --k and --m fix one, and shows the commit threshold', async () => {
    const dir = await tempDir()
    const child = run(['start', '--data', dir, '--port', '0', '--long-tail', '3'])
    const line = await ready(child)
    const info = (await (await fetch(`${line.url}/v1/info`)).json()) as InfoResponse
    // No node is online yet: the smallest automatic layout, 2+1, which cannot cancel any push.
    expect(info.policy).toEqual({ k: 2, m: 1, segmentSize: 8 * 1024 * 1024, minCommitPieces: 3, auto: true })
    const exit = exitOf(child)
    child.kill('SIGTERM')
    expect((await exit).code).toBe(0)

    const fixed = run(['start', '--data', dir, '--port', '0', '--k', '8', '--m', '8', '--min-commit-pieces', '13'])
    const fixedLine = await ready(fixed)
    const fixedInfo = (await (await fetch(`${fixedLine.url}/v1/info`)).json()) as InfoResponse
    expect(fixedInfo.policy).toEqual({ k: 8, m: 8, segmentSize: 8 * 1024 * 1024, minCommitPieces: 13 })
    const fixedExit = exitOf(fixed)
    fixed.kill('SIGTERM')
    expect((await fixedExit).code).toBe(0)
  })

  it('takes its data folder and port from the environment', async () => {
    const dir = await tempDir()
    const child = run(['start'], { SHOAL_TRACKER_DATA: dir, SHOAL_TRACKER_PORT: '0' })
    const line = await ready(child)
    expect(line.dataDir).toBe(dir)
    const exit = exitOf(child)
    child.kill('SIGINT')
    expect((await exit).code).toBe(0)
  })

  it('reads a config file, with flags and the environment over it, and serves /metrics', async () => {
    const dir = await tempDir()
    const config = join(dir, 'tracker.json')
    await writeFile(
      config,
      JSON.stringify({
        data: join(dir, 'from-file'),
        port: 1,
        k: 2,
        m: 2,
        'audit-interval': '0',
        'loopback-subnets': 'address'
      })
    )
    // The flag beats the file's port; the environment's data folder beats the file's.
    const child = run(['start', '--config', config, '--port', '0'], { SHOAL_TRACKER_DATA: join(dir, 'from-env') })
    const line = await ready(child)
    expect(line.dataDir).toBe(join(dir, 'from-env'))
    const url = String(line.url)
    expect(url).not.toMatch(/:1$/)
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { policy: { k: number; m: number } }
    expect(info.policy).toMatchObject({ k: 2, m: 2 })
    const metrics = await fetch(`${url}/metrics`)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(await metrics.text()).toContain('shoal_repair_queue_length 0')
    const exit = exitOf(child)
    child.kill('SIGTERM')
    expect((await exit).code).toBe(0)

    for (const [body, message] of [
      ['{"colour": "blue"}', /unknown option "colour"/],
      ['{"k": [4]}', /must be a string or a number/],
      ['not json', /--config/]
    ] as const) {
      await writeFile(config, body)
      const { code, stderr } = await exitOf(run(['start', '--config', config, '--data', dir]))
      expect(code, body).toBe(2)
      expect(stderr.trim().split('\n')).toHaveLength(1)
      expect(stderr).toMatch(message)
    }
  })

  it('fails fast with one line on bad configuration', async () => {
    const dir = await tempDir()
    for (const args of [
      ['start'],
      ['start', '--data', dir, '--k', 'four'],
      ['start', '--data', dir, '--port', '70000'],
      ['start', '--data', dir, '--segment-size', 'big'],
      ['start', '--data', dir, '--heartbeat-interval', 'often'],
      ['start', '--data', dir, '--heartbeat-interval', '5s', '--offline-after', '2s'],
      ['start', '--data', dir, '--k', '200', '--m', '100'],
      ['start', '--data', dir, '--k', '4'],
      ['start', '--data', dir, '--min-commit-pieces', '5'],
      ['start', '--data', dir, '--k', '4', '--m', '2', '--min-commit-pieces', '4'],
      ['start', '--data', dir, '--k', '4', '--m', '2', '--min-commit-pieces', '7'],
      ['start', '--data', dir, '--k', '4', '--m', '2', '--long-tail', '2'],
      ['start', '--data', dir, '--k', '4', '--m', '2', '--min-commit-pieces', '5', '--long-tail', '1'],
      ['start', '--data', dir, '--long-tail', 'some'],
      ['start', '--data', dir, '--scan-rate', 'fast'],
      ['start', '--data', dir, '--bogus'],
      ['stop']
    ]) {
      const { code, stderr } = await exitOf(run(args))
      expect(code, args.join(' ')).not.toBe(0)
      expect(stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(stderr).toMatch(/^shoal-tracker: /)
    }
  }, 180_000) // 17 process starts in turn: 2-5 s each on a loaded 2-core machine
})
