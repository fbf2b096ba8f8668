/**
 * @shoal/testnet — a whole Shoal network on one machine, as real processes on loopback or (hosts mode) each
 * storage node on a simulated host of its own (network namespace, own /24, kernel-capped upload), for tests,
 * benchmarks and local use.
 *
 * @example
 * ```ts
 * import { withTestnet } from '@shoal/testnet'
 * await withTestnet({ nodes: 6 }, async (net) => {
 *   console.log(net.tracker.url, net.nodes.map((n) => n.peerId))
 *   await net.killNode(0)
 * })
 * // Each node in its own namespace, uploads capped by the kernel at 10 MB/s (root; else loopback, with a warning):
 * await withTestnet({ nodes: 8, hosts: { uplink: 10e6 } }, async (net) => console.log(net.mode, net.nodes[0]?.host))
 * ```
 */
export { TestbedError, type TestbedErrorCode } from './errors.ts'
export { type Host, HostNetwork, type HostNetworkInit } from './hosts.ts'
export { type ReadyProcess, spawnReady, stopProcess } from './process.ts'
export { type IssuedCertificate, TestCa } from './test-ca.ts'
export {
  type NodeHandle,
  Testnet,
  type TestnetHostsInit,
  type TestnetInit,
  type TrackerHandle,
  withTestnet
} from './testnet.ts'
