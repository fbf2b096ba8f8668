import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NodesResponse, NodeView } from '@shoal/core'
import { TestbedError } from './errors.ts'
import { type Host, HostNetwork } from './hosts.ts'
import { type ReadyProcess, spawnReady, stopProcess } from './process.ts'

const TRACKER_BIN = fileURLToPath(new URL('../../tracker/bin/shoal-tracker.js', import.meta.url))
const NODE_BIN = fileURLToPath(new URL('../../node/bin/shoal-node.js', import.meta.url))

export interface TestnetInit {
  nodes: number
  /** Working folder; a temporary one (removed at stop) when omitted. */
  dir?: string
  trackerPort?: number
  /**
   * Fixed layout, default 4+2; `'auto'`: the tracker chooses each upload's layout from the nodes online, as a
   * release tracker does (m is then ignored).
   */
  k?: number | 'auto'
  m?: number
  segmentSize?: string
  /** Heartbeat interval: short by default so a restarted node's new address reaches the tracker within a second. */
  heartbeatInterval?: string
  /**
   * How long a silent node still counts as online (default 10 s). Not three heartbeats, as in a release: under
   * CI load (load averages of 10+ on 2 cores) a heartbeat can be several seconds late, and a node counted
   * offline then left uploads with "6 storage nodes needed, 5 available". Killed nodes are noticed by clients
   * at once anyway; this only delays the tracker's view.
   */
  offlineAfter?: string
  nodeCapacity?: string
  /** Per-node egress cap, e.g. '10MB/s'. */
  egressLimit?: string
  /** Extra flags per node index (hosts mode: and its host, e.g. to listen or announce on its address). */
  nodeArgs?: (index: number, host: Host | undefined) => string[]
  /**
   * Runs once the hosts exist (hosts mode) and before the tracker starts: e.g. issue TLS certificates for the
   * hosts' addresses. Its `trackerArgs` are added to the tracker's flags.
   */
  prepare?: (hosts: HostNetwork | undefined) => Promise<{ trackerArgs?: string[] } | undefined>
  trackerArgs?: string[]
  /**
   * Tracker processes (default 1). Those after the first share its data folder (so its key: nodes pin one
   * tracker key) and must share its database too (`trackerArgs: ['--postgres', url]`); node i reports to
   * tracker i mod `trackers`.
   */
  trackers?: number
  /**
   * Run the tracker's audits and repair on their default schedules. Off by default: a test or benchmark that
   * kills, restarts or slows nodes must see the placement it set up, not one the repairer changed meanwhile
   * (a node whose heartbeat was late under load counted as lost and had its pieces moved). Tests of audits
   * and repair set their own schedule through `trackerArgs`, which win.
   */
  ops?: boolean
  /**
   * Hosts mode: every node in its own network namespace with its own address in its own /24, reached over veth
   * pairs and a router namespace, its upload optionally capped by the kernel (see hosts.ts, docs/testbed.md).
   * `true` is `{}`. Off by default: loopback mode is quicker to start and needs no root.
   */
  hosts?: boolean | TestnetHostsInit
  /**
   * How long the tracker and each node may take to say they are ready (default 60 s), and the tracker to list them
   * all online (default 30 s); more on a loaded machine.
   */
  readyTimeoutMs?: number
}

export interface TestnetHostsInit {
  /** Kernel cap on each node host's upload (tc tbf), bytes per second; null or omitted: uncapped. */
  uplink?: number | null | ((index: number) => number | null)
  /**
   * When hosts mode cannot run here (not root, no iproute2, namespaces refused): false (default) falls back to
   * loopback with a warning on stderr, `net.mode` 'loopback' and `net.fallback` saying why, and the uplink caps
   * applied by the nodes themselves (`--egress-limit`); true throws ERR_HOSTS_UNAVAILABLE instead.
   */
  required?: boolean
  /**
   * Hosts beyond the nodes' (indices `nodes` and up), for other parts of a deployment, e.g. the web UI on a
   * host of its own (`net.hosts.host(nodes)`, `net.hosts.wrap(...)`).
   */
  extraHosts?: number
}

export interface TrackerHandle {
  url: string
  pid: number
  dataDir: string
}

export interface NodeHandle {
  index: number
  pid: number
  peerId: string
  addrs: string[]
  dataDir: string
  running: boolean
  /** Hosts mode: the node's namespace and address. */
  host?: Host
}

/**
 * A tracker and N storage nodes as real processes, each in its own data folder: on loopback, or (hosts mode) each
 * node on a simulated host of its own. Teardown is registered as each process (and each namespace) is created, so
 * a failed start leaves nothing running.
 */
export class Testnet {
  readonly dir: string
  /** The first tracker (`trackers[0]`). */
  readonly tracker: TrackerHandle
  /** Every tracker process, on one database when there are several (`init.trackers`). */
  readonly trackers: TrackerHandle[]
  readonly nodes: NodeHandle[] = []
  readonly #init: TestnetInit
  readonly #ownsDir: boolean
  #trackerProcess: ReadyProcess
  readonly #moreTrackers: ReadyProcess[] = []
  readonly #nodeProcesses = new Map<number, ReadyProcess>()
  /** Tracker flags from `init.prepare`, kept for restarts. */
  #extraTrackerArgs: string[] = []
  /** Hosts mode: the namespaces the nodes run in (undefined on loopback). */
  readonly hosts: HostNetwork | undefined
  /** 'hosts' when the nodes run in namespaces of their own, 'loopback' otherwise. */
  readonly mode: 'hosts' | 'loopback'
  /** Why hosts mode was asked for but the testnet runs on loopback; undefined otherwise. */
  readonly fallback: string | undefined

  private constructor(
    init: TestnetInit,
    dir: string,
    ownsDir: boolean,
    tracker: ReadyProcess,
    handle: TrackerHandle,
    hosts: HostNetwork | undefined,
    fallback: string | undefined
  ) {
    this.#init = init
    this.dir = dir
    this.#ownsDir = ownsDir
    this.#trackerProcess = tracker
    this.tracker = handle
    this.trackers = [handle]
    this.hosts = hosts
    this.mode = hosts === undefined ? 'loopback' : 'hosts'
    this.fallback = fallback
  }

  static async start(init: TestnetInit): Promise<Testnet> {
    const hostsInit = init.hosts === true ? {} : init.hosts === false ? undefined : init.hosts
    let fallback: string | undefined
    let hosts: HostNetwork | undefined
    if (hostsInit !== undefined) {
      fallback = await HostNetwork.unavailable()
      if (fallback !== undefined && hostsInit.required === true) {
        throw new TestbedError('ERR_HOSTS_UNAVAILABLE', `hosts mode unavailable: ${fallback}`)
      }
      if (fallback !== undefined) {
        process.stderr.write(
          `shoal-testnet: WARNING hosts mode unavailable (${fallback}); running on loopback, caps applied by the nodes (--egress-limit), not the kernel\n`
        )
      } else {
        hosts = await HostNetwork.create({
          hosts: init.nodes + (hostsInit.extraHosts ?? 0),
          ...(hostsInit.uplink === undefined ? {} : { uplink: hostsInit.uplink })
        })
      }
    }
    const ownsDir = init.dir === undefined
    let dir: string | undefined
    let tracker: ReadyProcess
    let extraTrackerArgs: string[] = []
    const trackerDir = (d: string): string => join(d, 'tracker')
    try {
      dir = init.dir ?? (await mkdtemp(join(tmpdir(), 'shoal-testnet-')))
      await mkdir(join(dir, 'logs'), { recursive: true })
      extraTrackerArgs = (await init.prepare?.(hosts))?.trackerArgs ?? []
      tracker = await spawnReady(
        TRACKER_BIN,
        [...Testnet.#trackerArgs(init, trackerDir(dir), init.trackerPort ?? 0, hosts), ...extraTrackerArgs],
        {
          logFile: join(dir, 'logs', 'tracker.log'),
          label: 'tracker',
          ...(init.readyTimeoutMs === undefined ? {} : { timeoutMs: init.readyTimeoutMs })
        }
      )
    } catch (err) {
      await hosts?.stop()
      if (ownsDir && dir !== undefined) await rm(dir, { recursive: true, force: true })
      throw err
    }
    const url = String(tracker.ready.url)
    const handle = { url, pid: tracker.child.pid!, dataDir: trackerDir(dir) }
    const net = new Testnet(init, dir, ownsDir, tracker, handle, hosts, fallback)
    net.#extraTrackerArgs = extraTrackerArgs
    try {
      for (let i = 1; i < (init.trackers ?? 1); i++) {
        const more = await spawnReady(
          TRACKER_BIN,
          [...Testnet.#trackerArgs(init, trackerDir(dir), 0, hosts), ...extraTrackerArgs],
          {
            logFile: join(dir, 'logs', `tracker-${i}.log`),
            label: `tracker ${i}`,
            ...(init.readyTimeoutMs === undefined ? {} : { timeoutMs: init.readyTimeoutMs })
          }
        )
        net.#moreTrackers.push(more)
        net.trackers.push({ url: String(more.ready.url), pid: more.child.pid!, dataDir: trackerDir(dir) })
      }
      // Every spawn settles before any failure is reported: a node still starting when another one failed
      // would otherwise be missed by stop() below and keep running after the testnet gave up.
      const spawned = await Promise.allSettled(Array.from({ length: init.nodes }, (_, i) => net.#spawnNode(i)))
      const failed = spawned.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed !== undefined) throw failed.reason
      await net.waitForOnline(undefined, init.readyTimeoutMs ?? 30_000)
    } catch (err) {
      await net.stop()
      throw err
    }
    return net
  }

  static #trackerArgs(init: TestnetInit, dataDir: string, port: number, hosts: HostNetwork | undefined): string[] {
    return [
      'start',
      '--data',
      dataDir,
      '--port',
      String(port),
      // Hosts mode: on the root namespace's end of the router link, where every node host can reach it.
      ...(hosts === undefined ? [] : ['--host', hosts.hubAddress]),
      ...(init.k === 'auto' ? [] : ['--k', String(init.k ?? 4), '--m', String(init.m ?? 2)]),
      '--heartbeat-interval',
      init.heartbeatInterval ?? '1s',
      '--offline-after',
      init.offlineAfter ?? '10s',
      ...(init.segmentSize === undefined ? [] : ['--segment-size', init.segmentSize]),
      ...(init.ops === true ? [] : ['--audit-interval', '0', '--repair-interval', '0']),
      ...(init.trackerArgs ?? [])
    ]
  }

  /** Loopback fallback of hosts mode: the uplink cap the kernel would have set, as the node's own limit. */
  #fallbackEgress(index: number): string[] {
    const hostsInit = this.#init.hosts
    if (this.fallback === undefined || typeof hostsInit !== 'object') return []
    const rate = typeof hostsInit.uplink === 'function' ? hostsInit.uplink(index) : hostsInit.uplink
    return rate === null || rate === undefined ? [] : ['--egress-limit', String(Math.round(rate))]
  }

  async #spawnNode(index: number): Promise<NodeHandle> {
    const dataDir = join(this.dir, `node-${index}`)
    const host = this.hosts?.host(index)
    const args = [
      'start',
      '--data',
      dataDir,
      '--tracker',
      (this.trackers[index % this.trackers.length] as TrackerHandle).url,
      ...(host === undefined
        ? []
        : ['--listen', `/ip4/${host.address}/tcp/0`, '--listen', `/ip4/${host.address}/tcp/0/ws`]),
      ...(this.#init.nodeCapacity === undefined ? [] : ['--capacity', this.#init.nodeCapacity]),
      ...(this.#init.egressLimit === undefined ? [] : ['--egress-limit', this.#init.egressLimit]),
      ...this.#fallbackEgress(index),
      ...(this.#init.nodeArgs?.(index, host) ?? [])
    ]
    const hosts = this.hosts
    const proc = await spawnReady(NODE_BIN, args, {
      logFile: join(this.dir, 'logs', `node-${index}.log`),
      label: `node ${index}`,
      ...(this.#init.readyTimeoutMs === undefined ? {} : { timeoutMs: this.#init.readyTimeoutMs }),
      ...(hosts === undefined ? {} : { wrap: (command, rest) => hosts.wrap(index, command, rest) })
    })
    this.#nodeProcesses.set(index, proc)
    const handle: NodeHandle = {
      index,
      pid: proc.child.pid!,
      peerId: String(proc.ready.peerId),
      addrs: (proc.ready.addrs as string[]) ?? [],
      dataDir,
      running: true,
      ...(host === undefined ? {} : { host })
    }
    this.nodes[index] = handle
    return handle
  }

  /** Clean shutdown (SIGTERM) of node i. */
  async stopNode(index: number): Promise<void> {
    await this.#endNode(index, 'SIGTERM')
  }

  /** Crash of node i (SIGKILL): no chance to flush or say goodbye. */
  async killNode(index: number): Promise<void> {
    await this.#endNode(index, 'SIGKILL')
  }

  async #endNode(index: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const proc = this.#nodeProcesses.get(index)
    if (proc === undefined) return
    await stopProcess(proc, signal)
    this.#nodeProcesses.delete(index)
    this.nodes[index]!.running = false
  }

  /** Starts node i again on its data folder (same identity, same pieces, new ports). */
  async restartNode(index: number): Promise<NodeHandle> {
    await this.stopNode(index)
    return this.#spawnNode(index)
  }

  /** Restarts the tracker on the same folder and port. */
  async restartTracker(): Promise<void> {
    await stopProcess(this.#trackerProcess, 'SIGTERM')
    const port = new URL(this.tracker.url).port
    this.#trackerProcess = await spawnReady(
      TRACKER_BIN,
      [...Testnet.#trackerArgs(this.#init, this.tracker.dataDir, Number(port), this.hosts), ...this.#extraTrackerArgs],
      {
        logFile: join(this.dir, 'logs', 'tracker.log'),
        label: 'tracker'
      }
    )
    this.tracker.pid = this.#trackerProcess.child.pid!
  }

  async nodeViews(): Promise<NodeView[]> {
    const response = await fetch(`${this.tracker.url}/v1/nodes`)
    if (!response.ok) throw new Error(`GET /v1/nodes: HTTP ${response.status}`)
    return ((await response.json()) as NodesResponse).nodes
  }

  /**
   * Waits until the tracker lists every running node as online at its current addresses (a restarted node
   * listens on new ports, and its first heartbeat tells the tracker), and at least `count` nodes online.
   */
  async waitForOnline(count = this.nodes.filter((n) => n.running).length, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let missing: string[] = []
    while (Date.now() < deadline) {
      const views = new Map((await this.nodeViews()).map((v) => [v.peerId, v]))
      missing = this.nodes
        .filter((n) => n.running)
        .filter((n) => {
          const view = views.get(n.peerId)
          const current = n.addrs.map((a) => a.replace(/\/p2p\/[^/]+$/, ''))
          return view?.online !== true || !current.every((a) => view.addrs.includes(a))
        })
        .map((n) => `node ${n.index}`)
      const online = [...views.values()].filter((v) => v.online).length
      if (missing.length === 0 && online >= count) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`the tracker does not see ${missing.join(', ') || `${count} nodes`} online within ${timeoutMs} ms`)
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#nodeProcesses.keys()].map((i) => this.stopNode(i)))
    await Promise.all(this.#moreTrackers.map((t) => stopProcess(t, 'SIGTERM')))
    await stopProcess(this.#trackerProcess, 'SIGTERM')
    await this.hosts?.stop()
    if (this.#ownsDir) await rm(this.dir, { recursive: true, force: true })
  }
}

/** Starts a testnet, runs `fn`, and always tears it down. */
export async function withTestnet<T>(init: TestnetInit, fn: (net: Testnet) => Promise<T>): Promise<T> {
  const net = await Testnet.start(init)
  try {
    return await fn(net)
  } finally {
    await net.stop()
  }
}
