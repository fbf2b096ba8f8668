import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { FakeTracker } from './fake-tracker.ts'
import { type Defer, GrantSigner, Teardown, tempDir, waitFor } from './helpers.ts'

const BIN = fileURLToPath(new URL('../bin/shoal-node.js', import.meta.url))

interface Running {
  child: ChildProcess
  lines: Record<string, unknown>[]
  stderr: string[]
  exited: Promise<number | null>
}

function run(defer: Defer, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  // The same Node that runs the tests (22: libp2p 3 needs it); piped stdout, so logs are JSON lines.
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SHOAL_NODE_DATA: '', SHOAL_TRACKER: '', ...env }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const lines: Record<string, unknown>[] = []
  const stderr: string[] = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      lines.push({ text: line })
    }
  })
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
  return { child, lines, stderr, exited }
}

describe('shoal-node start', () => {
  it('prints the ready line, serves, and exits 0 on SIGTERM', async () => {
    const teardown = new Teardown()
    try {
      const tracker = await new FakeTracker((await GrantSigner.create()).key).listen(teardown.defer)
      const dir = await tempDir(teardown.defer)
      const node = run(teardown.defer, [
        'start',
        '--data',
        dir,
        '--tracker',
        tracker.url,
        '--capacity',
        '500MB',
        '--egress-limit',
        '20MB/s'
      ])
      const ready = await waitFor(() => node.lines.find((l) => l.msg === 'ready'), 'ready line', 30_000)
      const peerId = ready.peerId as string
      expect(peerId).toMatch(/^12D3KooW/)
      const addrs = ready.addrs as string[]
      expect(addrs.length).toBeGreaterThanOrEqual(2)
      for (const addr of addrs) expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+(/ws)?/p2p/${peerId}$`))
      expect(addrs.some((a) => a.includes('/ws/'))).toBe(true)
      await waitFor(() => tracker.heartbeats.find((h) => h.node === peerId), 'heartbeat')
      expect(tracker.heartbeats[0]).toMatchObject({ capacity: 500_000_000 })

      node.child.kill('SIGTERM')
      expect(await node.exited).toBe(0)
      expect(node.lines.some((l) => l.msg === 'node stopped')).toBe(true)
    } finally {
      await teardown.run()
    }
  })

  it('fails fast with one line and exit code 2 on bad configuration', async () => {
    const teardown = new Teardown()
    try {
      const dir = await tempDir(teardown.defer)
      const cases: [string[], RegExp][] = [
        [['start', '--tracker', 'http://127.0.0.1:1'], /missing --data/],
        [['start', '--data', dir], /missing --tracker/],
        [['start', '--data', dir, '--tracker', 'http://127.0.0.1:1', '--capacity', '5 bananas'], /--capacity/],
        [['start', '--data', dir, '--tracker', 'http://127.0.0.1:1', '--egress-limit', 'fast'], /--egress-limit/],
        [['start', '--data', dir, '--tracker', 'not a url'], /not a URL/],
        [['start', '--data', dir, '--tracker', 'http://127.0.0.1:1', '--listen', 'nonsense'], /not a multiaddr/],
        [['start', '--data', dir, '--tracker', 'http://127.0.0.1:1', '--frobnicate'], /frobnicate/],
        [['stop'], /unknown command/]
      ]
      for (const [args, message] of cases) {
        const node = run(teardown.defer, args)
        expect(await node.exited, args.join(' ')).toBe(2)
        expect(node.stderr, args.join(' ')).toHaveLength(1)
        expect(node.stderr[0]).toMatch(message)
      }
    } finally {
      await teardown.run()
    }
  }, 180_000) // 8 process starts in turn: up to 7 s each on a loaded 2-core machine

  it('takes --data and --tracker from the environment, and exits 0 on SIGINT while waiting for the tracker', async () => {
    const teardown = new Teardown()
    try {
      const dir = await tempDir(teardown.defer)
      const node = run(teardown.defer, ['start'], { SHOAL_NODE_DATA: dir, SHOAL_TRACKER: 'http://127.0.0.1:1' })
      await waitFor(() => node.lines.find((l) => String(l.msg).startsWith('tracker unreachable')), 'retry warning')
      node.child.kill('SIGINT')
      expect(await node.exited).toBe(0)
    } finally {
      await teardown.run()
    }
  })
})
