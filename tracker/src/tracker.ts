import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PublicKey } from '@libp2p/interface'
import { ErrorCode, ShoalError } from '@shoal/core'
import { CertificateWatcher, type TlsPair } from '@shoal/core/tls'
import type { Billing } from './billing/billing.ts'
import { createComponents, TRACKER_VERSION, type TrackerComponents } from './components.ts'
import { resolveConfig, type TrackerConfig, type TrackerInit } from './config.ts'
import { renewCertificate } from './http/edge.ts'
import { startAll, stopAll } from './lifecycle.ts'
import type { Maintenance } from './ops/maintenance.ts'
import { LevelStore } from './store/level-store.ts'
import type { Store } from './store/store.ts'
import { loadOrCreateTrackerKey } from './tracker-key.ts'

export { TRACKER_VERSION } from './components.ts'

/**
 * One tracker process: its key, its store and the parts components.ts builds (the HTTP API, the maintenance
 * loops, billing, the sweeper). Started together, stopped in reverse order. start() and stop() are idempotent
 * and may be called concurrently.
 */
export class Tracker {
  readonly #config: TrackerConfig
  readonly #store: Store
  readonly #signal: AbortSignal | undefined
  #running: TrackerComponents | undefined
  /** Reloads the HTTPS certificate when its files change (config.tls); loaded before the store opens. */
  #certificates: CertificateWatcher | undefined
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined

  constructor(init: TrackerInit) {
    this.#config = resolveConfig(init)
    this.#store = init.store ?? new LevelStore({ location: join(this.#config.dataDir, 'store') })
    this.#signal = init.signal
  }

  /** Base URL once started, e.g. http://127.0.0.1:7070. */
  get url(): string {
    return this.#started().http.url
  }

  /** The key that signs grants; its protobuf is `publicKey` in /v1/info. */
  get publicKey(): PublicKey {
    return this.#started().key.publicKey
  }

  /** Audits and repair: tests run their rounds directly. */
  get maintenance(): Maintenance {
    return this.#started().maintenance
  }

  /** Metering, invoices and payouts: tests close months directly. */
  get billing(): Billing {
    return this.#started().billing
  }

  /** Every part of the running tracker (tests and benchmarks reach in here). */
  get components(): TrackerComponents {
    return this.#started()
  }

  get config(): Readonly<TrackerConfig> {
    return this.#config
  }

  #started(): TrackerComponents {
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
    // Loaded before anything opens: a wrong certificate path fails the start with one line.
    let renew: (pair: TlsPair) => void = () => {}
    const certificates =
      config.tls === undefined
        ? undefined
        : new CertificateWatcher({
            ...config.tls,
            ...(config.tls.reloadIntervalMs === undefined ? {} : { intervalMs: config.tls.reloadIntervalMs }),
            onChange: (pair) => {
              renew(pair)
              log.info({ cert: config.tls?.cert }, 'TLS certificate reloaded')
            },
            onError: (err) =>
              log.error({ err: err.message }, 'TLS certificate changed but does not load; keeping the old one')
          })
    const tls = await certificates?.start()
    await this.#store.open()
    try {
      const components = createComponents(config, this.#store, key, tls === undefined ? {} : { tls })
      renew = (pair) => renewCertificate(components.http.app.server, pair)
      await startAll(components.startables)
      this.#running = components
      this.#certificates = certificates
    } catch (err) {
      await certificates?.stop()
      await this.#store.close()
      throw err
    }
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
    this.#running = undefined
    try {
      await stopAll(running.startables)
    } finally {
      await this.#certificates?.stop()
      this.#certificates = undefined
      await this.#store.close()
    }
    this.#config.logger.info('tracker stopped')
  }

  /**
   * One maintenance pass: discards expired uploads (queueing deletes for their pieces) and expired sessions.
   * The background loop runs it every `sweepIntervalMs`; tests call it after moving their clock.
   */
  sweep(): Promise<{ uploads: number; sessions: number }> {
    return this.#started().sweep()
  }
}

export function createTracker(init: TrackerInit): Tracker {
  return new Tracker(init)
}
