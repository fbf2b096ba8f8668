/**
 * @shoal/testnet — a whole Shoal network on one machine, as real processes on loopback, for tests, benchmarks
 * and local use.
 *
 * @example
 * ```ts
 * import { withTestnet } from '@shoal/testnet'
 * await withTestnet({ nodes: 6 }, async (net) => {
 *   console.log(net.tracker.url, net.nodes.map((n) => n.peerId))
 *   await net.killNode(0)
 * })
 * ```
 */
export { type ReadyProcess, spawnReady, stopProcess } from './process.ts'
export { type NodeHandle, Testnet, type TestnetInit, type TrackerHandle, withTestnet } from './testnet.ts'
