import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ErrorCode } from '@shoal/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ReadyProcess, spawnReady, stopProcess, Testnet } from '../src/index.ts'
import { tempDir, waitFor } from './helpers.ts'

/**
 * Running Shoal on the internet (issue 14, docs/deploy.md), against real tracker and node processes: what an
 * operator sees when a node announces an address the tracker cannot reach.
 */

const NODE_BIN = fileURLToPath(new URL('../../node/bin/shoal-node.js', import.meta.url))

/** The first JSON log line in `file` whose msg is `msg`. */
async function logLine(file: string, msg: string): Promise<Record<string, unknown> | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    if (!line.includes(msg)) continue
    try {
      const entry = JSON.parse(line) as Record<string, unknown>
      if (entry.msg === msg) return entry
    } catch {
      // not a JSON line
    }
  }
  return undefined
}

describe('deploy', () => {
  let net: Testnet

  beforeAll(async () => {
    // Dial-back admission is the tracker's default.
    net = await Testnet.start({ nodes: 1 })
  }, 120_000)

  afterAll(async () => {
    await net?.stop()
  })

  it('an admitted node is ready', async () => {
    const dashboard = (await readFile(join(net.nodes[0]?.dataDir ?? '', 'dashboard.url'), 'utf8')).trim()
    const readyz = await fetch(new URL('readyz', dashboard))
    expect(await readyz.json()).toEqual({ ready: true })
    expect(readyz.status).toBe(200)
  })

  it('a node announcing an address the tracker cannot reach is refused with what to do about it', async () => {
    const dir = await tempDir('shoal-unreachable-node-')
    const logFile = join(dir.path, 'node.log')
    let node: ReadyProcess | undefined
    try {
      node = await spawnReady(
        NODE_BIN,
        [
          'start',
          '--data',
          join(dir.path, 'data'),
          '--tracker',
          net.tracker.url,
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          // Nothing listens on port 9 (discard): as a home node whose router forwards nothing.
          '--announce',
          '/ip4/127.0.0.1/tcp/9',
          '--heartbeat-interval',
          '1s',
          '--dashboard',
          'off',
          '--metrics',
          '127.0.0.1:0'
        ],
        { logFile, label: 'unreachable node' }
      )
      const peerId = String(node.ready.peerId)
      // The node advertises the announced address, not the one it listens on.
      expect(node.ready.addrs).toEqual([`/ip4/127.0.0.1/tcp/9/p2p/${peerId}`])
      const refused = await waitFor('the refusal in the node log', () =>
        logLine(logFile, 'not admitted by the tracker')
      )
      expect(refused.code).toBe(ErrorCode.NODE_NOT_REACHABLE)
      const message = String(refused.err)
      // Says what was tried and what to do: forward the port, announce the public address.
      expect(message).toContain('/ip4/127.0.0.1/tcp/9')
      expect(message).toContain('Forward TCP port 9')
      expect(message).toContain('--announce /ip4/127.0.0.1/tcp/9')
      expect((await net.nodeViews()).some((v) => v.peerId === peerId)).toBe(false)
      // Alive but not ready, and the probe says why; metrics and probes are served without the dashboard.
      const probes = String(node.ready.metrics)
      expect((await fetch(new URL('healthz', probes))).status).toBe(200)
      const readyz = await fetch(new URL('readyz', probes))
      expect(readyz.status).toBe(503)
      expect(await readyz.json()).toMatchObject({ ready: false, code: ErrorCode.NODE_NOT_REACHABLE })
      expect((await fetch(new URL('status.json', probes))).status).toBe(404)
      expect(await (await fetch(new URL('metrics', probes))).text()).toContain('shoal_node_heartbeat_failures_total')
    } finally {
      if (node !== undefined) await stopProcess(node)
      await dir.cleanup()
    }
  }, 90_000)
})
