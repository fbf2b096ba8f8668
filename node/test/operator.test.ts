import { type ChildProcess, spawn } from 'node:child_process'
import { access, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { TrafficHistory } from '../src/operator/history.ts'
import { parseListen } from '../src/operator/operator-server.ts'
import { FakeTracker } from './fake-tracker.ts'
import { type Defer, GrantSigner, Teardown, tempDir, waitFor } from './helpers.ts'

const BIN = fileURLToPath(new URL('../bin/shoal-node.js', import.meta.url))

function withoutLogLevel(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SHOAL_LOG_LEVEL: _, ...rest } = env
  return rest
}

function run(defer: Defer, args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...withoutLogLevel(process.env), SHOAL_NODE_DATA: '', SHOAL_TRACKER: '' }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const lines: Record<string, unknown>[] = []
  const stdout: string[] = []
  const stderr: string[] = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout.push(line)
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>)
    } catch {}
  })
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line))
  return { child, lines, stdout, stderr, exited }
}

describe('the operator side of shoal-node', () => {
  it('reads a config file, serves the dashboard, status.json and /metrics on loopback, and answers shoal-node status', async () => {
    const teardown = new Teardown()
    try {
      const tracker = await new FakeTracker((await GrantSigner.create()).key).listen(teardown.defer)
      const dir = await tempDir(teardown.defer)
      const config = join(dir, 'node.json')
      await writeFile(
        config,
        JSON.stringify({ tracker: tracker.url, capacity: '300MB', dashboard: '127.0.0.1:0', 'log-level': 'warn' })
      )
      const node = run(teardown.defer, ['start', '--config', config, '--data', join(dir, 'data')])
      const urlFile = join(dir, 'data', 'dashboard.url')
      const url = await waitFor(
        async () => (await readFile(urlFile, 'utf8').catch(() => '')).trim() || undefined,
        'dashboard.url',
        30_000
      )
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      // The config file's log level took effect: nothing below warn, not even the ready line.
      expect(node.lines.every((l) => Number(l.level) >= 40)).toBe(true)

      const page = await fetch(url)
      expect(page.headers.get('content-type')).toMatch(/text\/html/)
      const html = await page.text()
      expect(html).toContain('<title>Shoal node</title>')
      // Self-contained: nothing loaded from anywhere else.
      expect(html).not.toMatch(/(src|href)="https?:/)

      const status = (await (await fetch(`${url}status.json`)).json()) as Record<string, unknown>
      expect(status).toMatchObject({ capacity: 300_000_000, stored: 0, pieces: 0, status: 'started', earnings: null })
      expect(status.peerId).toMatch(/^12D3KooW/)
      // The fake tracker knows no reputations: the status says so rather than failing.
      expect(status.reputation).toMatchObject({ error: expect.any(String) })

      const metrics = await (await fetch(`${url}metrics`)).text()
      expect(metrics).toContain('shoal_node_capacity_bytes 300000000')
      expect(metrics).toContain('# TYPE shoal_node_egress_bytes_total counter')
      expect(metrics).toMatch(/shoal_node_requests_total\{op="get"\} 0/)
      // From prom-client: libp2p's own connection and stream metrics and the process's, beside Shoal's.
      expect(metrics).toContain('# TYPE libp2p_connection_manager_connections gauge')
      expect(metrics).toContain('# TYPE libp2p_protocol_streams_total gauge')
      expect(metrics).toContain('process_cpu_user_seconds_total')

      const cli = run(teardown.defer, ['status', '--data', join(dir, 'data')])
      expect(await cli.exited).toBe(0)
      const text = cli.stdout.join('\n')
      expect(text).toMatch(/^node +12D3KooW/m)
      expect(text).toMatch(/^stored +0 B of [\d.]+ \w+ \(0.0%\), 0 pieces$/m)
      expect(text).toMatch(/^earnings +not available yet/m)
      const json = run(teardown.defer, ['status', '--data', join(dir, 'data'), '--json'])
      expect(await json.exited).toBe(0)
      expect(JSON.parse(json.stdout.join('\n'))).toMatchObject({ capacity: 300_000_000 })

      node.child.kill('SIGTERM')
      expect(await node.exited).toBe(0)
      await expect(access(join(dir, 'data', 'dashboard.url'))).rejects.toThrow()
      const after = run(teardown.defer, ['status', '--data', join(dir, 'data')])
      expect(await after.exited).toBe(1)
      expect(after.stderr.join('\n')).toMatch(/no running node/)
    } finally {
      await teardown.run()
    }
  })

  it('refuses a bad config file or a dashboard off loopback with one line and exit code 2', async () => {
    const teardown = new Teardown()
    try {
      const dir = await tempDir(teardown.defer)
      const bad = join(dir, 'bad.json')
      await writeFile(bad, JSON.stringify({ tracker: 'http://127.0.0.1:1', colour: 'blue' }))
      const notJson = join(dir, 'not.json')
      await writeFile(notJson, 'tracker = here')
      const cases: [string[], RegExp][] = [
        [['start', '--data', dir, '--config', bad], /unknown option "colour"/],
        [['start', '--data', dir, '--config', notJson], /--config/],
        [['start', '--data', dir, '--config', join(dir, 'missing.json')], /--config/],
        [['start', '--data', dir, '--tracker', 'http://127.0.0.1:1', '--dashboard', '0.0.0.0:8080'], /loopback only/],
        [
          ['start', '--data', dir, '--tracker', 'http://127.0.0.1:1', '--retain-interval', 'often'],
          /--retain-interval/
        ],
        [['status'], /status needs --data/]
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
  })

  it('keeps a bounded traffic history across restarts', async () => {
    const teardown = new Teardown()
    try {
      const dir = await tempDir(teardown.defer)
      const history = new TrafficHistory(dir, 3)
      await history.load()
      await history.sample(1000, { bytesIn: 100, bytesOut: 0, stored: 100, capacity: 1000 })
      expect(history.points).toHaveLength(0)
      await history.sample(2000, { bytesIn: 350, bytesOut: 40, stored: 350, capacity: 1000 })
      expect(history.points).toEqual([{ at: 2000, stored: 350, capacity: 1000, ingress: 250, egress: 40 }])
      for (let i = 3; i <= 6; i++)
        await history.sample(i * 1000, { bytesIn: 350, bytesOut: 40, stored: 350, capacity: 1000 })
      expect(history.points.map((p) => p.at)).toEqual([4000, 5000, 6000])
      const reloaded = new TrafficHistory(dir, 3)
      await reloaded.load()
      expect(reloaded.points.map((p) => p.at)).toEqual([4000, 5000, 6000])
      // Counters restart at zero with the node: the first sample after a restart is only a baseline.
      await reloaded.sample(7000, { bytesIn: 0, bytesOut: 0, stored: 350, capacity: 1000 })
      expect(reloaded.points).toHaveLength(3)
    } finally {
      await teardown.run()
    }
  })

  it('accepts only loopback dashboard addresses', () => {
    expect(parseListen('8080')).toEqual({ host: '127.0.0.1', port: 8080 })
    expect(parseListen('127.0.0.9:0')).toEqual({ host: '127.0.0.9', port: 0 })
    expect(parseListen('[::1]:9000')).toEqual({ host: '::1', port: 9000 })
    expect(() => parseListen('192.168.1.2:80')).toThrow(/loopback only/)
    expect(() => parseListen('host:port')).toThrow(/host:port/)
  })
})
