import type { ShoalNode } from '../shoal-node.ts'

export interface Readiness {
  ready: boolean
  /** Why not, for the operator: the node's state, or the tracker's last refusal. */
  reason?: string
  code?: string
}

/**
 * `/readyz`: the node serves pieces and the tracker lists it. A node the tracker refused (not reachable at its
 * announced address) or cannot reach is alive (`/healthz`) but not ready: a load balancer or a supervisor
 * should not count it, and the reason says what to fix.
 */
export function readiness(node: ShoalNode): Readiness {
  if (node.status !== 'started') return { ready: false, reason: `the node is ${node.status}` }
  const link = node.stats.tracker
  // Without a tracker the node only serves what it has: ready once started.
  if (link === undefined) return { ready: true }
  if (link.lastError !== undefined) {
    return { ready: false, reason: link.lastError.message, code: link.lastError.code }
  }
  if (link.lastHeartbeatAt === undefined) return { ready: false, reason: 'no heartbeat accepted by the tracker yet' }
  return { ready: true }
}
