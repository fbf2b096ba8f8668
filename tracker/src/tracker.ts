import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { DEFAULT_KDF, describeError, ErrorCode, type InfoResponse, ShoalError, toBase64Url } from '@shoal/core'
import pkg from '../package.json' with { type: 'json' }
import { Accounts } from './accounts.ts'
import { ApiKeys } from './api-keys.ts'
import { Billing } from './billing/billing.ts'
import { PlanService } from './billing/plan-service.ts'
import { planCatalog } from './billing/plans.ts'
import { Settlements } from './billing/settlement.ts'
import { type ResolvedPolicy, resolveConfig, type TrackerConfig, type TrackerInit } from './config.ts'
import { AUTO_LAYOUTS, chooseLayout, type Layout, minCommitFor } from './erasure-policy.ts'
import { GrantSigner } from './grants.ts'
import { registerMoneyRoutes } from './http/money-routes.ts'
import { createHttpServer, type HttpServer } from './http/server.ts'
import { NodeAdmission } from './node-admission.ts'
import { NodeRegistry } from './node-registry.ts'
import { Objects } from './objects.ts'
import { Ops } from './ops/ops.ts'
import { Reputations } from './ops/reputations.ts'
import { registerOpsRoutes } from './ops/routes.ts'
import { Shares } from './shares.ts'
import { LevelStore } from './store/level-store.ts'
import type { Store } from './store/store.ts'
import { loadOrCreateTrackerKey } from './tracker-key.ts'
import { Uploads } from './uploads.ts'

export const TRACKER_VERSION: string = pkg.version

interface Running {
  key: PrivateKey
  app: HttpServer
  url: string
  uploads: Uploads
  /** Owns the background loops; stop() aborts it, then waits for `loops`. */
  controller: AbortController
  loops: Promise<void>
  billing: Billing
  ops: Ops
}

/**
 * One tracker process: its key, its store, the HTTP API and the sweeper. Started together, stopped in reverse
 * order. start() and stop() are idempotent and may be called concurrently.
 */
export class Tracker {
  readonly #config: TrackerConfig
  readonly #store: Store
  readonly #signal: AbortSignal | undefined
  #running: Running | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined

  constructor(init: TrackerInit) {
    this.#config = resolveConfig(init)
    this.#store = init.store ?? new LevelStore({ location: join(this.#config.dataDir, 'store') })
    this.#signal = init.signal
  }

  /** Base URL once started, e.g. http://127.0.0.1:7070. */
  get url(): string {
    return this.#started().url
  }

  /** The key that signs grants; its protobuf is `publicKey` in /v1/info. */
  get publicKey(): PublicKey {
    return this.#started().key.publicKey
  }

  /** Audits and repair: tests run their rounds directly. */
  get ops(): Ops {
    return this.#started().ops
  }

  /** Metering, invoices and payouts: tests close months directly. */
  get billing(): Billing {
    return this.#started().billing
  }

  get config(): Readonly<TrackerConfig> {
    return this.#config
  }

  #started(): Running {
    if (this.#running === undefined) throw new ShoalError(ErrorCode.INTERNAL, 'the tracker is not started')
    return this.#running
  }

  start(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping.then(() => this.start())
    this.#starting ??= this.#start().catch((err: unknown) => {
      this.#starting = undefined
      throw err
    })
    return this.#starting
  }

  async #start(): Promise<void> {
    this.#signal?.throwIfAborted()
    const { config } = this
    const log = config.logger
    await mkdir(config.dataDir, { recursive: true })
    const key = await loadOrCreateTrackerKey(config.dataDir, log)
    const trackerKey = toBase64Url(publicKeyToProtobuf(key.publicKey))
    await this.#store.open()
    try {
      const signer = new GrantSigner(key, config.clock, config.grantTtlMs)
      const components = { store: this.#store, config, signer }
      const reputations = new Reputations({ ...components, policy: config.ops, clock: config.clock, logger: log })
      await reputations.refresh()
      // Ops owns the libp2p peer and is built after the registry it needs; heartbeats (the only callers of
      // admission) start once the server listens, after both exist.
      let ops: Ops | undefined
      const admission =
        config.ops.admitNodes === 'trust'
          ? undefined
          : new NodeAdmission({
              peer: () => (ops as Ops).peer(),
              clock: config.clock,
              logger: log.child({ component: 'admission' })
            })
      const registry = new NodeRegistry({
        ...components,
        trackerKey,
        standing: (peerId) => reputations.standing(peerId),
        loopbackSubnets: config.ops.loopbackSubnets,
        newNodeFraction: config.ops.newNodeFraction,
        ...(admission === undefined ? {} : { admission })
      })
      ops = new Ops({
        ...components,
        registry,
        reputations,
        settings: config.ops,
        clock: config.clock,
        logger: log
      })
      const uploads = new Uploads({ ...components, registry })
      const objects = new Objects({ ...components, registry })
      const accounts = new Accounts(components)
      const app = createHttpServer({
        accounts,
        registry,
        uploads,
        objects,
        shares: new Shares({ ...components, objects }),
        logger: log,
        info: async (): Promise<InfoResponse> => {
          const free = await registry.freeSpace()
          return {
            version: TRACKER_VERSION,
            publicKey: trackerKey,
            kdf: DEFAULT_KDF,
            policy: policyInfo(config.policy, free),
            nodesOnline: free.length
          }
        }
      })
      const plans = planCatalog(config.defaultQuota)
      const billing = new Billing({ store: this.#store, clock: config.clock, plans, logger: log })
      registerMoneyRoutes(app, {
        accounts,
        billing,
        settlements: new Settlements({ store: this.#store, clock: config.clock, trackerKey: key.publicKey }),
        apiKeys: new ApiKeys({ store: this.#store, clock: config.clock }),
        plans: new PlanService({ store: this.#store, clock: config.clock, plans }),
        store: this.#store,
        clock: config.clock
      })
      registerOpsRoutes(app, { ops, reputations, registry, clock: config.clock, signer })
      await app.listen({ host: config.host, port: config.port })
      const address = app.server.address() as AddressInfo
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
      const controller = new AbortController()
      this.#running = {
        key,
        app,
        url: `http://${host}:${address.port}`,
        uploads,
        billing,
        controller,
        loops: this.#sweepLoop(controller.signal),
        ops
      }
      ops.start()
    } catch (err) {
      await this.#store.close()
      throw err
    }
    this.#started().billing.start()
    this.#signal?.addEventListener('abort', () => this.#stopOnAbort(), { once: true })
    const { layout, segmentSize, minCommitPieces, longTail } = config.policy
    log.info(
      { url: this.url, layout: layout ?? 'auto', segmentSize, minCommitPieces, longTail, version: TRACKER_VERSION },
      'tracker started'
    )
  }

  #stopOnAbort(): void {
    this.stop().catch((err: unknown) => this.#config.logger.error({ err }, 'stopping the tracker failed'))
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #stop(): Promise<void> {
    if (this.#starting !== undefined) await this.#starting.catch(() => undefined)
    this.#starting = undefined
    const running = this.#running
    if (running === undefined) return
    running.controller.abort()
    await running.billing.stop()
    await running.ops.stop()
    await running.loops
    this.#running = undefined
    await running.app.close()
    await this.#store.close()
    this.#config.logger.info('tracker stopped')
  }

  /**
   * One maintenance pass: discards expired uploads (queueing deletes for their pieces) and expired sessions.
   * The background loop runs it every `sweepIntervalMs`; tests call it after moving their clock.
   */
  async sweep(): Promise<{ uploads: number; sessions: number }> {
    const running = this.#started()
    const uploads = await running.uploads.sweep()
    const sessions = await this.#store.accounts.deleteExpiredSessions(this.#config.clock.now())
    return { uploads, sessions }
  }

  async #sweepLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await sleep(this.#config.sweepIntervalMs, undefined, { signal })
      } catch {
        return
      }
      try {
        await this.sweep()
      } catch (err) {
        // Keep sweeping: a failed pass is retried on the next tick.
        this.#config.logger.error({ err: describeError(err) }, 'sweep failed')
      }
    }
  }
}

/**
 * The policy as /v1/info shows it. With automatic layouts, k and m are what an upload of a full segment begun
 * now would get, or the smallest automatic layout while too few nodes are online.
 */
function policyInfo(policy: ResolvedPolicy, free: readonly number[]): InfoResponse['policy'] {
  const { segmentSize } = policy
  const choice = chooseLayout(policy, segmentSize, free)
  if ('k' in choice) {
    const { k, m, minCommitPieces } = choice
    return { k, m, segmentSize, minCommitPieces, ...(policy.layout === undefined ? { auto: true } : {}) }
  }
  const { k, m } = policy.layout ?? (AUTO_LAYOUTS.at(-1) as Layout)
  const minCommitPieces = policy.minCommitPieces ?? minCommitFor({ k, m }, policy.longTail)
  return { k, m, segmentSize, minCommitPieces, ...(policy.layout === undefined ? { auto: true } : {}) }
}

export function createTracker(init: TrackerInit): Tracker {
  return new Tracker(init)
}
