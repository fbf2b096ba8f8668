import { setMaxListeners } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId, PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import {
  describeError,
  ErrorCode,
  fastPrivateKey,
  isAbort,
  type NodeAddress,
  PROTOCOL_AUDIT,
  PROTOCOL_DELETE,
  PROTOCOL_GET,
  PROTOCOL_PUT,
  PROTOCOL_RECEIPTS,
  PROTOCOL_REPAIR,
  ShoalError,
  sleep
} from '@shoal/core'
import { CertificateWatcher, loadTlsFiles } from '@shoal/core/tls'
import { Level } from 'level'
import { type Logger, pino } from 'pino'
import { Registry } from 'prom-client'
import { AuditService, type AuditStats } from './audit-service.ts'
import {
  DEFAULT_CAPACITY,
  DEFAULT_LISTEN,
  MAX_HEARTBEAT_DIALS,
  MAX_INBOUND_STREAMS,
  MAX_KNOWN_PEERS,
  SERIAL_PRUNE_INTERVAL_MS
} from './constants.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { createNodeLibp2p, type NodeLibp2p } from './libp2p.ts'
import { PieceService, type PieceServiceStats } from './piece-service.ts'
import { PieceStore, type PieceStoreStats } from './piece-store.ts'
import { RepairService, type RepairStats } from './repair-service.ts'
import { type RetainResult, RetainSweeper } from './retain-sweeper.ts'
import { Settler, type SettlerStats } from './settlement.ts'
import { resolveTrackerKey } from './tracker-key.ts'
import { TrackerLink, type TrackerLinkStats } from './tracker-link.ts'
import { UsedSerials } from './used-serials.ts'

export interface NodeInit {
  /** Folder for identity, pieces and index; created if missing. */
  dataDir: string
  /** Tracker base URL. Without it the node sends no heartbeats (and needs `trackerPublicKey` or a pinned key). */
  trackerUrl?: string
  /** Key that verifies grants; otherwise read from `GET {tracker}/v1/info` and pinned in the data folder. */
  trackerPublicKey?: PublicKey
  /** Listen multiaddrs; default loopback TCP and WebSockets on free ports. */
  listen?: string[]
  /**
   * Addresses to advertise to the tracker and peers instead of the listen addresses, as go/js-libp2p's
   * announce and Storj's `contact.external-address`: a node behind NAT announces its public address and
   * forwarded port. The tracker dials the node back on them before it admits it.
   */
  announce?: string[]
  /**
   * Certificate and key files (PEM) for secure WebSockets, which browsers on HTTPS pages need: listen on a
   * `/tls/ws` address (e.g. /ip4/0.0.0.0/tcp/443/tls/ws) and announce it under the certificate's DNS name
   * (/dns4/node.example.org/tcp/443/tls/ws). Changed files are picked up without a restart.
   */
  tls?: { cert: string; key: string; reloadIntervalMs?: number }
  /** Peers to dial at start (full multiaddrs with /p2p), besides those the tracker hands out. */
  bootstrap?: string[]
  /** Bytes of pieces stored at most; default 10 GiB. */
  capacity?: number
  /** Upload rate for all get responses together, bytes/s; 0 (default) = unlimited. */
  egressLimit?: number
  /** Heartbeat interval; default: what the tracker asks for. */
  heartbeatIntervalMs?: number
  /** A request whose stream moves nothing for this long is aborted; default 30 s. */
  idleTimeoutMs?: number
  /** Requests served at once before shedding with ERR_NODE_OVERLOADED; default 64. */
  maxConcurrentRequests?: number
  /** How often clients' download receipts are settled with the tracker; default 5 minutes. */
  settlementIntervalMs?: number
  logger?: Logger
  /** How often the node asks the tracker for its retain list and drops unreferenced pieces; default 6 h. */
  retainIntervalMs?: number
  /** Pieces stored this recently before a retain list are kept whatever it says; default 2 h. */
  retainGraceMs?: number
  /** Cancels a start() that is still waiting for the tracker (stop() does too). */
  signal?: AbortSignal
}

export type NodeStatus = 'stopped' | 'starting' | 'started' | 'stopping'

export interface NodeStats {
  store: PieceStoreStats
  requests: PieceServiceStats
  audits: AuditStats
  /** Repair orders carried out for the tracker, pieces rebuilt and stored for them, and orders refused. */
  repairs: RepairStats
  tracker: TrackerLinkStats | undefined
  /** Download receipts queued and settled (egress the node is paid for); undefined without a tracker. */
  settlement: SettlerStats | undefined
  connections: number
}

export interface ShoalNode {
  readonly peerId: PeerId
  readonly dataDir: string
  readonly status: NodeStatus
  /** The addresses it advertises (announce, else listen) with /p2p/<peerId>; empty until started. */
  readonly multiaddrs: Multiaddr[]
  readonly stats: NodeStats
  /** The underlying libp2p node (DHT, connections): for tests and tools. */
  readonly libp2p: NodeLibp2p
  /** libp2p's and the process's metrics (prom-client); the operator server adds Shoal's own and serves them. */
  readonly metrics: Registry
  start(): Promise<void>
  /** Asks the tracker for its retain list now and drops the pieces nobody references (see RetainSweeper). */
  collectGarbage(): Promise<RetainResult>
  stop(): Promise<void>
}

/** What runs between start() and stop(); rebuilt on each start. */
interface Running {
  db: Level<string, string>
  store: PieceStore
  service: PieceService
  audits: AuditService
  repairs: RepairService
  link: TrackerLink | undefined
  retain: RetainSweeper | undefined
  settler: Settler | undefined
  /** Reloads the secure WebSockets certificate when its files change. */
  certificates: CertificateWatcher | undefined
  loops: AbortController
  tasks: Promise<void>[]
}

const EMPTY_STORE: PieceStoreStats = { capacity: 0, used: 0, reserved: 0, pieces: 0 }
const EMPTY_AUDITS: AuditStats = { answered: 0, refused: 0, leaves: 0, bytesRead: 0, treesBuilt: 0 }
const EMPTY_REQUESTS: PieceServiceStats = {
  active: 0,
  requests: { put: 0, get: 0, delete: 0 },
  failures: 0,
  bytesIn: 0,
  bytesOut: 0
}

/**
 * Creates a storage node: loads (or creates) its identity and builds its libp2p node, without starting it.
 *
 * @example
 * ```ts
 * const node = await createNode({ dataDir: './node-data', trackerUrl: 'http://127.0.0.1:7070', capacity: 500e9 })
 * await node.start()
 * console.log(node.peerId.toString(), node.multiaddrs.map(String))
 * await node.stop()
 * ```
 */
export async function createNode(init: NodeInit): Promise<ShoalNode> {
  if (typeof init.dataDir !== 'string' || init.dataDir === '') throw new TypeError('dataDir is required')
  const capacity = init.capacity ?? DEFAULT_CAPACITY
  if (!Number.isSafeInteger(capacity) || capacity < 0) throw new TypeError('capacity must be a byte count')
  const egressLimit = init.egressLimit ?? 0
  if (!Number.isFinite(egressLimit) || egressLimit < 0) throw new TypeError('egressLimit must be bytes/s >= 0')
  if (init.trackerUrl !== undefined) new URL(init.trackerUrl)
  const logger = init.logger ?? pino({ level: 'silent' })
  await mkdir(init.dataDir, { recursive: true })
  const privateKey = await loadOrCreateIdentity(init.dataDir, logger)
  const listen = init.listen ?? DEFAULT_LISTEN
  if (init.tls === undefined && listen.some(isSecureWebSocket)) {
    throw new ShoalError(ErrorCode.INVALID_INPUT, 'a /tls/ws (or /wss) listen address needs a TLS certificate and key')
  }
  const tls = init.tls === undefined ? undefined : await loadTlsFiles(init.tls)
  const metrics = new Registry()
  const libp2p = await createNodeLibp2p({
    privateKey,
    metrics,
    listen,
    ...(tls === undefined ? {} : { tls }),
    ...(init.announce === undefined ? {} : { announce: init.announce })
  })
  return new Node({ ...init, capacity, egressLimit }, logger, privateKey, libp2p, metrics)
}

class Node implements ShoalNode {
  readonly libp2p: NodeLibp2p
  readonly metrics: Registry
  readonly #init: NodeInit & { capacity: number; egressLimit: number }
  readonly #log: Logger
  readonly #privateKey: PrivateKey
  #status: NodeStatus = 'stopped'
  #running: Running | undefined
  #transition: Promise<void> | undefined
  /** Lets stop() cancel a start that is still waiting for the tracker. */
  #starting: AbortController | undefined
  /** Addresses of heartbeat peers as last merged into the peer store, by peer id (insertion-ordered, bounded). */
  readonly #knownPeers = new Map<string, string>()
  #addrs: string[] | undefined

  constructor(
    init: NodeInit & { capacity: number; egressLimit: number },
    logger: Logger,
    privateKey: PrivateKey,
    libp2p: NodeLibp2p,
    metrics: Registry
  ) {
    this.#init = init
    // Shoal's own signatures (heartbeats, receipts, settlement) use a cached key object; libp2p keeps the key
    // it was given. Signing through @libp2p/crypto rebuilt a node:crypto key from JWK every time: a tenth of
    // an idle node's CPU went to heartbeats, and every put receipt paid it too.
    this.#privateKey = fastPrivateKey(privateKey)
    this.#log = logger.child({ peerId: libp2p.peerId.toString() })
    this.libp2p = libp2p
    this.metrics = metrics
  }

  /**
   * The addresses heartbeats report, worked out again only when libp2p says they changed: building them
   * (address manager, multiaddr parsing) was a fifth of each idle heartbeat.
   */
  #ownAddrs(): string[] {
    if (this.#addrs === undefined) {
      this.#addrs = this.libp2p.getMultiaddrs().map((ma) => withoutPeerId(ma))
      this.libp2p.addEventListener('self:peer:update', () => (this.#addrs = undefined), { once: true })
    }
    return this.#addrs
  }

  get peerId(): PeerId {
    return this.libp2p.peerId
  }

  get dataDir(): string {
    return this.#init.dataDir
  }

  get status(): NodeStatus {
    return this.#status
  }

  get multiaddrs(): Multiaddr[] {
    return this.#status === 'started' ? this.libp2p.getMultiaddrs() : []
  }

  get stats(): NodeStats {
    const r = this.#running
    return {
      store: r?.store.stats ?? EMPTY_STORE,
      requests: r?.service.stats ?? EMPTY_REQUESTS,
      audits: r?.audits.stats ?? EMPTY_AUDITS,
      repairs: r?.repairs.stats ?? { orders: 0, rebuilt: 0, refused: 0 },
      tracker: r?.link?.stats,
      settlement: r?.settler?.stats,
      connections: this.libp2p.getConnections().length
    }
  }

  collectGarbage(): Promise<RetainResult> {
    const retain = this.#running?.retain
    if (retain === undefined) {
      return Promise.reject(
        new ShoalError(ErrorCode.INVALID_INPUT, 'garbage collection needs a running node with a tracker')
      )
    }
    return retain.sweep()
  }

  async start(): Promise<void> {
    if (this.#status === 'started') return
    if (this.#status === 'starting' && this.#transition !== undefined) return this.#transition
    if (this.#status === 'stopping') await this.#transition
    this.#status = 'starting'
    const starting = new AbortController()
    this.#starting = starting
    const signal =
      this.#init.signal === undefined ? starting.signal : AbortSignal.any([this.#init.signal, starting.signal])
    this.#transition = this.#start(signal)
    try {
      await this.#transition
      this.#status = 'started'
    } catch (err) {
      this.#status = 'stopped'
      throw err
    } finally {
      this.#transition = undefined
      this.#starting = undefined
    }
  }

  async stop(): Promise<void> {
    if (this.#status === 'stopped') return
    if (this.#status === 'stopping' && this.#transition !== undefined) return this.#transition
    if (this.#status === 'starting') {
      this.#starting?.abort()
      await this.#transition?.catch(() => undefined)
    }
    if (this.#status !== 'started') return
    this.#status = 'stopping'
    this.#transition = this.#stop()
    try {
      await this.#transition
    } finally {
      this.#status = 'stopped'
      this.#transition = undefined
    }
  }

  async #start(signal: AbortSignal): Promise<void> {
    const init = this.#init
    const peerId = this.libp2p.peerId.toString()
    const trackerKey = await resolveTrackerKey({
      dataDir: init.dataDir,
      ...(init.trackerUrl === undefined ? {} : { trackerUrl: init.trackerUrl }),
      ...(init.trackerPublicKey === undefined ? {} : { trackerPublicKey: init.trackerPublicKey }),
      signal,
      logger: this.#log
    })

    const db = new Level<string, string>(join(init.dataDir, 'index'))
    try {
      await db.open()
    } catch (cause) {
      const locked = (cause as { cause?: { code?: unknown } }).cause?.code === 'LEVEL_LOCKED'
      throw new ShoalError(
        locked ? ErrorCode.CONFLICT : ErrorCode.INTERNAL,
        locked
          ? `data folder ${init.dataDir} is in use by another shoal-node`
          : `cannot open the index in ${init.dataDir}: ${describeError(cause)}`,
        { cause }
      )
    }
    const parts: Partial<Running> & { db: Level<string, string> } = { db }
    try {
      const store = new PieceStore({
        dir: init.dataDir,
        db,
        capacity: init.capacity,
        logger: this.#log.child({ component: 'piece-store' })
      })
      await store.open()
      parts.store = store
      const serials = new UsedSerials(db)
      const link =
        init.trackerUrl === undefined
          ? undefined
          : new TrackerLink(
              {
                trackerUrl: init.trackerUrl,
                peerId,
                privateKey: this.#privateKey,
                trackerKey,
                logger: this.#log.child({ component: 'tracker-link' }),
                addrs: () => this.#ownAddrs(),
                usage: async () => ({ capacity: init.capacity, used: store.stats.used, free: await store.free() }),
                onPeers: (peers, signal) => this.#usePeers(peers, signal),
                onDeleteOrder: (order) => service.executeDeleteOrder(order)
              },
              init.heartbeatIntervalMs === undefined ? {} : { intervalMs: init.heartbeatIntervalMs }
            )
      parts.link = link
      parts.retain =
        init.trackerUrl === undefined
          ? undefined
          : new RetainSweeper(
              {
                trackerUrl: init.trackerUrl,
                trackerKey,
                peerId,
                privateKey: this.#privateKey,
                store,
                logger: this.#log.child({ component: 'retain' })
              },
              {
                ...(init.retainIntervalMs === undefined ? {} : { intervalMs: init.retainIntervalMs }),
                ...(init.retainGraceMs === undefined ? {} : { graceMs: init.retainGraceMs })
              }
            )
      parts.retain?.start()
      const service: PieceService = new PieceService(
        {
          peerId,
          privateKey: this.#privateKey,
          trackerKey,
          store,
          serials,
          logger: this.#log.child({ component: 'piece-service' }),
          onDeleted: (serial) => link?.reportDeleted(serial),
          // The receipts a client sent on its get stream are queued for settlement like delivered ones.
          onReceipt: (token, grant, receipt, bytes) => {
            parts.settler?.addVerified(token, grant, receipt, bytes).catch((err: unknown) => {
              this.#log.warn({ err: describeError(err) }, 'could not queue an in-band receipt')
            })
          }
        },
        {
          egressLimit: init.egressLimit,
          ...(init.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: init.idleTimeoutMs }),
          ...(init.maxConcurrentRequests === undefined ? {} : { maxConcurrentRequests: init.maxConcurrentRequests })
        }
      )
      parts.service = service
      service.start()
      const audits = new AuditService({
        peerId,
        trackerKey,
        store,
        serials,
        db,
        logger: this.#log.child({ component: 'audit-service' })
      })
      parts.audits = audits
      audits.start()
      const repairs = new RepairService({
        libp2p: this.libp2p,
        peerId,
        privateKey: this.#privateKey,
        trackerKey,
        logger: this.#log.child({ component: 'repair-service' })
      })
      parts.repairs = repairs
      const settler =
        init.trackerUrl === undefined
          ? undefined
          : new Settler(
              {
                peerId,
                privateKey: this.#privateKey,
                trackerKey,
                trackerUrl: init.trackerUrl,
                logger: this.#log.child({ component: 'settler' }),
                db
              },
              init.settlementIntervalMs === undefined ? {} : { intervalMs: init.settlementIntervalMs }
            )
      parts.settler = settler
      await settler?.start()

      this.#addrs = undefined
      await this.libp2p.start()
      const tls = init.tls
      if (tls !== undefined) {
        parts.certificates = new CertificateWatcher({
          ...tls,
          ...(tls.reloadIntervalMs === undefined ? {} : { intervalMs: tls.reloadIntervalMs }),
          // The WebSockets listener serves new connections with the renewed pair; open ones keep theirs.
          onChange: (pair) => {
            this.#log.info({ cert: tls.cert }, 'TLS certificate reloaded')
            this.libp2p.services.certificates.renew(pair)
          },
          onError: (err) =>
            this.#log.error({ err: err.message }, 'TLS certificate changed but does not load; keeping the old one')
        })
        await parts.certificates.start()
      }
      await this.libp2p.handle(PROTOCOL_PUT, service.handlePut, { maxInboundStreams: MAX_INBOUND_STREAMS.put })
      await this.libp2p.handle(PROTOCOL_GET, service.handleGet, { maxInboundStreams: MAX_INBOUND_STREAMS.get })
      await this.libp2p.handle(PROTOCOL_DELETE, service.handleDelete, {
        maxInboundStreams: MAX_INBOUND_STREAMS.delete
      })
      await this.libp2p.handle(PROTOCOL_AUDIT, audits.handle, { maxInboundStreams: MAX_INBOUND_STREAMS.delete })
      await this.libp2p.handle(PROTOCOL_REPAIR, repairs.handle, { maxInboundStreams: MAX_INBOUND_STREAMS.delete })
      if (settler !== undefined) {
        await this.libp2p.handle(PROTOCOL_RECEIPTS, settler.handle, { maxInboundStreams: MAX_INBOUND_STREAMS.delete })
      }

      const loops = new AbortController()
      setMaxListeners(Number.POSITIVE_INFINITY, loops.signal)
      parts.loops = loops
      parts.tasks = [this.#pruneSerials(serials, loops.signal), this.#bootstrap(loops.signal)]
      link?.start()
      this.#running = parts as Running
      this.#log.info(
        { addrs: this.libp2p.getMultiaddrs().map(String), tracker: init.trackerUrl ?? null },
        'node started'
      )
    } catch (err) {
      await this.#teardown(parts)
      throw err
    }
  }

  async #stop(): Promise<void> {
    const running = this.#running
    this.#running = undefined
    if (running !== undefined) await this.#teardown(running)
    this.#log.info('node stopped')
  }

  /** Stops whatever of `parts` was started, in reverse order of start. */
  async #teardown(parts: Partial<Running>): Promise<void> {
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn()
      } catch (err) {
        this.#log.warn({ err: describeError(err) }, `stopping ${what} failed`)
      }
    }
    await step('tracker link', async () => parts.link?.stop())
    await step('certificate watcher', async () => parts.certificates?.stop())
    await step('retain sweeper', async () => parts.retain?.stop())
    await step('protocol handlers', () =>
      this.libp2p.unhandle([
        PROTOCOL_PUT,
        PROTOCOL_GET,
        PROTOCOL_DELETE,
        PROTOCOL_AUDIT,
        PROTOCOL_RECEIPTS,
        PROTOCOL_REPAIR
      ])
    )
    // After the handlers: receipts delivered until now are settled before the node goes away.
    await step('settler', async () => parts.settler?.stop())
    await step('piece service', async () => parts.service?.stop())
    await step('audit service', async () => parts.audits?.stop())
    await step('repair service', async () => parts.repairs?.stop())
    parts.loops?.abort()
    await Promise.allSettled(parts.tasks ?? [])
    await step('libp2p', async () => {
      await this.libp2p.stop()
    })
    await step('index', async () => {
      await parts.db?.close()
    })
  }

  async #pruneSerials(serials: UsedSerials, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const pruned = await serials.prune(Date.now(), signal)
        if (pruned > 0) this.#log.debug({ pruned }, 'pruned expired grant serials')
        await sleep(SERIAL_PRUNE_INTERVAL_MS, signal)
      } catch (err) {
        if (isAbort(err, signal)) return
        this.#log.warn({ err: describeError(err) }, 'pruning grant serials failed')
        await sleep(SERIAL_PRUNE_INTERVAL_MS, signal).catch(() => undefined)
      }
    }
  }

  /** Dials configured peers at start and whenever they are disconnected, so the DHT has somewhere to start. */
  async #bootstrap(signal: AbortSignal): Promise<void> {
    const addrs = (this.#init.bootstrap ?? []).flatMap((text) => {
      try {
        return [multiaddr(text)]
      } catch {
        this.#log.warn({ addr: text }, 'ignoring a bootstrap address that is not a multiaddr')
        return []
      }
    })
    if (addrs.length === 0) return
    while (!signal.aborted) {
      await Promise.allSettled(
        addrs.map(async (addr) => {
          const id = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
          if (id !== undefined && this.libp2p.getConnections(peerIdFromString(id)).length > 0) return
          try {
            await this.libp2p.dial(addr, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
          } catch (err) {
            if (!signal.aborted)
              this.#log.debug({ addr: addr.toString(), err: describeError(err) }, 'bootstrap dial failed')
          }
        })
      )
      await sleep(30_000, signal).catch(() => undefined)
    }
  }

  /** Heartbeat peers: remember their addresses and connect to a few, which fills the DHT routing table. */
  async #usePeers(peers: NodeAddress[], signal: AbortSignal): Promise<void> {
    const self = this.libp2p.peerId.toString()
    const toDial: PeerId[] = []
    for (const peer of peers) {
      if (peer.peerId === self) continue
      let id: PeerId
      try {
        id = peerIdFromString(peer.peerId)
      } catch {
        continue
      }
      // Heartbeats repeat the same peers every interval: a peer-store merge (a locked read, compare and write)
      // per peer per beat was most of an idle node's CPU, so only changed addresses are parsed and merged.
      const key = peer.addrs.join(' ')
      if (this.#knownPeers.get(peer.peerId) !== key) {
        const multiaddrs = peer.addrs.flatMap((text) => {
          try {
            return [multiaddr(text)]
          } catch {
            return []
          }
        })
        if (multiaddrs.length === 0) continue
        await this.libp2p.peerStore.merge(id, { multiaddrs })
        this.#knownPeers.set(peer.peerId, key)
        if (this.#knownPeers.size > MAX_KNOWN_PEERS) this.#knownPeers.delete(this.#knownPeers.keys().next().value!)
      }
      if (this.libp2p.getConnections(id).length === 0 && toDial.length < MAX_HEARTBEAT_DIALS) toDial.push(id)
    }
    await Promise.allSettled(
      toDial.map(async (id) => {
        try {
          await this.libp2p.dial(id, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
        } catch (err) {
          if (!signal.aborted) this.#log.debug({ peer: id.toString(), err: describeError(err) }, 'peer dial failed')
        }
      })
    )
    if (signal.aborted) throw new ShoalError(ErrorCode.ABORTED, 'stopping')
  }
}

function isSecureWebSocket(addr: string): boolean {
  return /\/(tls\/ws|wss)(\/|$)/.test(addr)
}

function withoutPeerId(ma: Multiaddr): string {
  return ma.toString().replace(/\/p2p\/[^/]+$/, '')
}
