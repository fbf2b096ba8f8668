import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { DEFAULT_KDF, type InfoResponse, toBase64Url } from '@shoal/core'
import pkg from '../package.json' with { type: 'json' }
import { Accounts } from './accounts.ts'
import { ApiKeys } from './api-keys.ts'
import { Authenticator } from './auth.ts'
import { Billing } from './billing/billing.ts'
import { PlanService } from './billing/plan-service.ts'
import { planCatalog } from './billing/plans.ts'
import { ReceiptKeys } from './billing/receipt-key.ts'
import { Settlements } from './billing/settlement.ts'
import type { ResolvedPolicy, TrackerConfig } from './config.ts'
import { EmailVerification } from './email-verification.ts'
import { AUTO_LAYOUTS, chooseLayout, type Layout, minCommitFor } from './erasure-policy.ts'
import { GrantSigner } from './grants.ts'
import { registerAdminRoutes } from './http/admin-routes.ts'
import type { HttpEdgeInit } from './http/edge.ts'
import { registerHealthRoutes } from './http/health-routes.ts'
import { HttpListener } from './http/listener.ts'
import { registerMoneyRoutes } from './http/money-routes.ts'
import { createHttpServer } from './http/server.ts'
import { PeriodicTask, type Startable } from './lifecycle.ts'
import { TrackerMetrics } from './metrics.ts'
import { Moderation } from './moderation.ts'
import { NodeAdmission } from './node-admission.ts'
import { NodeRegistry } from './node-registry.ts'
import { Objects } from './objects.ts'
import { Auditor } from './ops/auditor.ts'
import { ClientPeer } from './ops/client-peer.ts'
import { Maintenance } from './ops/maintenance.ts'
import { Repairer } from './ops/repairer.ts'
import { Reputations } from './ops/reputations.ts'
import { RetainFilters } from './ops/retain.ts'
import { registerOpsRoutes } from './ops/routes.ts'
import { Shares } from './shares.ts'
import type { Store } from './store/store.ts'
import { Uploads } from './uploads.ts'
import { Versions } from './versions.ts'

export const TRACKER_VERSION: string = pkg.version

/**
 * Every part of one tracker process, built in one place (js-libp2p's components, Storj's peer): services get
 * their dependencies from here and construct none themselves; the HTTP routes receive these parts. The
 * background parts are listed in `startables`, in start order; the tracker stops them in reverse.
 */
export interface TrackerComponents {
  config: Readonly<TrackerConfig>
  store: Store
  key: PrivateKey
  /** base64url protobuf of the tracker's public key, as /v1/info shows it. */
  trackerKey: string
  signer: GrantSigner
  auth: Authenticator
  accounts: Accounts
  /** Takedowns and suspensions (the admin API); its gate is checked in `auth`, `accounts` and `shares`. */
  moderation: Moderation
  /** Prometheus metrics (prom-client), the client peer's libp2p metrics among them. */
  metrics: TrackerMetrics
  apiKeys: ApiKeys
  plans: PlanService
  reputations: Reputations
  peer: ClientPeer
  registry: NodeRegistry
  uploads: Uploads
  objects: Objects
  versions: Versions
  shares: Shares
  settlements: Settlements
  billing: Billing
  auditor: Auditor
  repairer: Repairer
  retain: RetainFilters
  maintenance: Maintenance
  /** Expired uploads and sessions, every `sweepIntervalMs`. */
  sweeper: PeriodicTask
  /** One sweep now (tests move their clock and call it). */
  sweep(): Promise<{ uploads: number; sessions: number }>
  /** GET /v1/info. */
  info(): Promise<InfoResponse>
  http: HttpListener
  /** Every running part in start order (after the store opens); the tracker stops them in reverse. */
  startables: Startable[]
}

/**
 * Builds every part; nothing runs until the tracker starts the startables. `edge.tls` is the certificate the
 * tracker loaded (and keeps reloading) for HTTPS.
 */
export function createComponents(
  config: Readonly<TrackerConfig>,
  store: Store,
  key: PrivateKey,
  edge: Pick<HttpEdgeInit, 'tls'> = {}
): TrackerComponents {
  const log = config.logger
  const { clock } = config
  const trackerKey = toBase64Url(publicKeyToProtobuf(key.publicKey))
  const signer = new GrantSigner(key, clock, config.grantTtlMs)
  const base = { store, config, signer }
  const moderation: Moderation = new Moderation({
    store,
    clock,
    logger: log.child({ component: 'moderation' }),
    dropSessions: (accountId) => accounts.dropSessions(accountId)
  })
  const auth = new Authenticator({ store, clock, gate: moderation })
  const plansCatalog = planCatalog(config.defaultQuota)
  const reputations = new Reputations({ store, policy: config.ops, clock, logger: log })
  const metrics = new TrackerMetrics()
  const peer = new ClientPeer(metrics.libp2p)
  const dialPeer = () => peer.get()
  const admission =
    config.ops.admitNodes === 'trust'
      ? undefined
      : new NodeAdmission({ peer: dialPeer, clock, logger: log.child({ component: 'admission' }) })
  const registry = new NodeRegistry({
    ...base,
    trackerKey,
    standings: reputations,
    loopbackSubnets: config.ops.loopbackSubnets,
    newNodeFraction: config.ops.newNodeFraction,
    ...(admission === undefined ? {} : { admission })
  })
  const opsParts = { ...base, registry, reputations, peer: dialPeer, settings: config.ops, clock }
  const auditor = new Auditor({ ...opsParts, logger: log.child({ component: 'auditor' }) })
  const repairer = new Repairer({ ...opsParts, logger: log.child({ component: 'repairer' }) })
  const retain = new RetainFilters(store, clock, config.ops)
  const uploads = new Uploads({ ...base, registry, repairs: repairer })
  const receiptKeys = new ReceiptKeys({ store, clock })
  const objects = new Objects({ ...base, registry, receiptKeys })
  const versions = new Versions({ store, config, objects })
  const maintenance = new Maintenance({
    store,
    auditor,
    repairer,
    retain,
    reputations,
    versions,
    settings: config.ops,
    clock,
    logger: log
  })
  const billing = new Billing({ store, clock, plans: plansCatalog, logger: log })
  const sweep = async () => {
    const swept = await uploads.sweep()
    const sessions = await store.accounts.deleteExpiredSessions(clock.now())
    const signups = await store.accounts.deleteExpiredPendingSignups(clock.now())
    return { uploads: swept, sessions, signups }
  }
  const sweeper = new PeriodicTask({ name: 'sweep', intervalMs: config.sweepIntervalMs, logger: log, run: sweep })
  const verification = config.verifyEmail
    ? new EmailVerification({
        store,
        mailer: config.mailer,
        clock,
        logger: log.child({ component: 'email-verification' }),
        codeTtlMs: config.signupCodeTtlMs
      })
    : undefined
  const accounts: Accounts = new Accounts({
    store,
    config,
    auth,
    gate: moderation,
    ...(verification === undefined ? {} : { verification })
  })
  const apiKeys = new ApiKeys({ store, clock })
  const plans = new PlanService({ store, clock, plans: plansCatalog })
  const shares = new Shares({ store, config, objects, gate: moderation })
  const settlements = new Settlements({ store, clock, trackerKey: key.publicKey })
  const info = async (): Promise<InfoResponse> => {
    const free = await registry.freeSpace()
    return {
      version: TRACKER_VERSION,
      publicKey: trackerKey,
      kdf: DEFAULT_KDF,
      policy: policyInfo(config.policy, free),
      nodesOnline: free.length,
      ...(config.verifyEmail ? { verifyEmail: true } : {})
    }
  }
  const app = createHttpServer(
    { auth, accounts, registry, uploads, objects, versions, shares, info, logger: log },
    { trustProxy: config.trustProxy, ...edge }
  )
  metrics.instrument(app)
  registerAdminRoutes(app, { moderation, adminToken: config.adminToken })
  // A point read: a round trip to PostgreSQL, a lookup in LevelDB.
  registerHealthRoutes(app, { ping: () => store.accounts.getAccount('readyz') })
  registerMoneyRoutes(app, { auth, billing, settlements, apiKeys, plans, store, clock })
  registerOpsRoutes(app, { maintenance, reputations, registry, clock, signer, metrics })
  const http = new HttpListener(app, config.host, config.port, edge.tls === undefined ? 'http' : 'https')
  return {
    config,
    store,
    key,
    trackerKey,
    signer,
    auth,
    accounts,
    moderation,
    metrics,
    apiKeys,
    plans,
    reputations,
    peer,
    registry,
    uploads,
    objects,
    versions,
    shares,
    settlements,
    billing,
    auditor,
    repairer,
    retain,
    maintenance,
    sweeper,
    sweep,
    info,
    http,
    // Reputations load before requests come in (placement reads them); the peer stops only after the HTTP
    // API (node admission dials with it) and the maintenance loops.
    startables: [reputations, peer, http, maintenance, billing, sweeper]
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
