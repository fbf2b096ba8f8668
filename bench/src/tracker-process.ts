import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { PrivateKey } from '@libp2p/interface'
import { type Grant, type PlaceSegmentResponse, peekToken, signReceipt } from '@shoal/core'

/** The tracker benchmarks' shared pieces: tracker processes and percentiles. */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const TRACKER_BIN = join(ROOT, 'tracker/bin/shoal-tracker.js')

/**
 * Starts `shoal-tracker start` with `args` and resolves with its URL once it logs ready. Node admission is off:
 * the benchmarks' nodes are keys that heartbeat, not libp2p nodes, so nothing could be dialled back.
 * TRACKER_NODE_OPTIONS reaches the trackers only (e.g. --cpu-prof), not the load generator.
 */
export function startTracker(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [TRACKER_BIN, 'start', '--admit-nodes', 'trust', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: process.env.TRACKER_NODE_OPTIONS ?? '' }
  })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const v = JSON.parse(line) as { msg?: string; url?: string }
        if (v.msg === 'ready') resolve({ url: v.url as string, child })
      } catch {
        // not a log line
      }
    })
    child.once('exit', (code) => reject(new Error(`tracker exited (${code}): ${stderr}`)))
  })
}

/**
 * The PostgreSQL server the tracker benchmarks use (trust auth). SHOAL_BENCH_PG_PORT picks another server on
 * this host, e.g. one started with a shared_buffers that holds the benchmark's working set (docs/postgres.md).
 */
export const PG = { host: '127.0.0.1', port: process.env.SHOAL_BENCH_PG_PORT ?? '5432', user: 'postgres' }

/** Pids of the PostgreSQL backends connected to one database. */
export function backendPids(db: string): number[] {
  const out = execFileSync('psql', [
    ...['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', 'postgres', '-Atc'],
    `SELECT pid FROM pg_stat_activity WHERE datname = '${db}'`
  ])
  return out
    .toString()
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number)
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

/** The put receipts each placed node would sign for its piece, for a segment commit. */
export function signPutReceipts(
  placed: PlaceSegmentResponse,
  keyOf: (peerId: string) => PrivateKey,
  root: string
): Promise<{ index: number; cid: string; node: string; receipt: string }[]> {
  return Promise.all(
    placed.pieces.map(async (p) => {
      const g = peekToken(p.grant) as Grant
      const receipt = await signReceipt(keyOf(p.node.peerId), {
        v: 2,
        kind: 'put',
        piece: g.piece,
        node: p.node.peerId,
        size: g.size,
        serial: g.serial,
        root,
        at: Date.now()
      })
      return { index: p.index, cid: p.cid, node: p.node.peerId, receipt }
    })
  )
}
