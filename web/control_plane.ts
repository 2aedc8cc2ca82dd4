// The control plane's parts, opened from the config and closed together.
import {
  type Database,
  type JobRow,
  ledgerIdentity,
  migrate,
  openDatabase,
  readMigrations,
  releaseExpiredVouchers,
  releaseStaleHolds,
  releaseStaleLeases,
  WorkerPriority,
  workerThreadIds,
} from "../db/mod.ts";
import { replayJournal } from "./jobs/journal_replay.ts";
import { SettlementJournal } from "./jobs/settlement_journal.ts";
import { createLogger, fastestSecp256k1, type Logger } from "../shared/mod.ts";
import type { WebConfig } from "./config.ts";
import { NodeRegistry } from "./registry/node_registry.ts";
import { NodeConnection } from "./dispatch/node_connection.ts";
import { JobStore } from "./jobs/job_store.ts";
import { JobRecorder } from "./jobs/job_recorder.ts";
import { BalanceLeases } from "./billing/leases.ts";
import type { JobRun, JobRunDeps } from "./jobs/job_run.ts";
import { ApiKeyAuth } from "./api/v1/api_key_auth.ts";
import type { Limiter } from "./rate_limit.ts";
import { localState, postgresState, type SharedState } from "./state/shared_state.ts";
import { Health } from "./health.ts";
import { type PaymentProcessor, ProcessorError } from "./payments/processor.ts";
import { type RateProvider, staticRates } from "./payments/rates.ts";
import { type PayoutDeps, resumeOpenPayouts, runAutomaticPayouts } from "./payments/payouts.ts";
import { Metrics } from "./metrics/metrics.ts";
import { ReputationService } from "./reputation/reputation_service.ts";
import { ephemeralPlatformKey, loadPlatformKey, type PlatformKey } from "./receipts/platform_key.ts";
import { ReceiptDesk } from "./receipts/receipt_desk.ts";
import { RelayMirror } from "./receipts/relay_mirror.ts";
import { inlineSigner, workerSigner } from "./receipts/event_signer.ts";
import { DirectJobs } from "./direct/direct_jobs.ts";
import { type Cluster, ClusterReceiptDesk, openCluster } from "./cluster/mod.ts";

/** Everything a handler may use. */
export interface ControlPlane {
  config: WebConfig;
  log: Logger;
  db: Database;
  /** This instance's local KV: the registry's records, and its jobs' state and reaper queue. */
  kv: Deno.Kv;
  /** What every instance must see alike: rate limits, NIP-98 replay window, login state. */
  state: SharedState;
  /** Readiness checks and draining (`/readyz`). */
  health: Health;
  registry: NodeRegistry;
  jobs: JobStore;
  recorder: JobRecorder;
  /** This instance's balance leases: job holds are reserved against them in memory. */
  leases: BalanceLeases;
  auth: ApiKeyAuth;
  keyLimiter: Limiter;
  keyCreationLimiter: Limiter;
  /** Dependencies of a job run. */
  runDeps: JobRunDeps;
  /** The payment processor (CoinPayPortal, or the local fake in development). */
  processor: PaymentProcessor;
  /** The secret that signs the processor's webhooks; null: webhooks are refused. */
  webhookSecret: string | null;
  /** Exchange rates for payouts. */
  rates: RateProvider;
  /** What `GET /metrics` exposes. */
  metrics: Metrics;
  /** Nodes' reputations: recomputed into the registry, and computed fresh for the API. */
  reputation: ReputationService;
  /** The control plane's own Nostr key (receipts, verifications). */
  platformKey: PlatformKey;
  /** Where job attempts and node receipts become signed platform receipts. */
  receipts: ReceiptDesk;
  /** Direct-mode jobs awaiting their settlement (node receipt and consumer ack). */
  direct: DirectJobs;
  /** This instance's part in a deployment of several (INFERNET_NATS_URL); null: it is alone. */
  cluster: Cluster | null;
  /** Publishes receipts and verifications to `INFERNET_RELAYS`; null when none is configured. */
  relayMirror: RelayMirror | null;
  close(): Promise<void>;
}

/** A processor for a control plane that has none: every call fails with a clear reason. */
function noProcessor(): PaymentProcessor {
  const fail = () =>
    Promise.reject(
      new ProcessorError("processor_not_configured", "No payment processor is configured on this server."),
    );
  return { createPayment: fail, createPayout: fail, getPayout: fail };
}

/** Options for tests: an open database or KV to use instead of the configured ones. */
export interface OpenControlPlaneOptions {
  db?: Database;
  kv?: Deno.Kv;
  log?: Logger;
  processor?: PaymentProcessor;
  webhookSecret?: string | null;
  rates?: RateProvider;
  /** The platform key to use instead of the configured file. */
  platformKey?: PlatformKey;
  /** The shared state to use (closed by the caller) instead of the configured one. */
  state?: SharedState;
}

/** Opens storage, applies migrations, loads the registry and starts the job reaper. */
export async function openControlPlane(
  config: WebConfig,
  opts: OpenControlPlaneOptions = {},
): Promise<ControlPlane> {
  const log = opts.log ?? createLogger({ level: config.logLevel, fields: { svc: "web" } });
  if (!config.databaseUrl || !config.kv) await Deno.mkdir(config.dataDir, { recursive: true });
  const db = opts.db ?? await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : {
      dataDir: `${config.dataDir}/pglite`,
      idlePriority: config.pgliteIdle && {
        onChange: (state, why) => log.debug("PGlite thread priority", { state, why }),
      },
    },
  );
  const applied = await migrate(db.sql);
  if (applied.length) log.info("migrations applied", { applied });
  const instance = "cp_" + crypto.randomUUID().slice(0, 8);
  // Jobs a crashed predecessor journaled but never committed are settled first: before the
  // reaper could record them as timed out and before the sweep releases the holds they draw on.
  let journal: SettlementJournal | null = null;
  if (config.journalDir) {
    const ledger = await ledgerIdentity(db.sql);
    await replayJournal(config.journalDir, ledger, db.sql, log);
    journal = await SettlementJournal.open(config.journalDir, ledger, instance, log);
  }
  const kv = opts.kv ?? await Deno.openKv(config.kv ?? `${config.dataDir}/kv.sqlite3`);
  if (config.sharedState === "postgres" && db.kind !== "postgres" && !opts.state) {
    throw new Error("shared state on PostgreSQL needs the database to be PostgreSQL (DATABASE_URL)");
  }
  const state = opts.state ??
    (config.sharedState === "postgres" ? postgresState(db.sql, log) : localState(kv));
  const health = new Health();
  // Ready once the database answers and holds every migration this build knows (a newer instance
  // may have applied more).
  const latestMigration = (await readMigrations()).at(-1)?.version ?? "";
  health.addCheck("database", async () => {
    const [row] = await db.sql`select 1 from schema_migrations where version = ${latestMigration}`;
    if (!row) throw new Error(`database: migration ${latestMigration} not applied`);
  });
  const platformKey = opts.platformKey ??
    (config.platformKeyFile ? await loadPlatformKey(config.platformKeyFile) : ephemeralPlatformKey());
  // Receipts are signed and checked inline with native libsecp256k1 (cheaper than a worker's hop);
  // otherwise in a crypto worker at idle priority, as PGlite's runs: signatures never take a CPU
  // from a request (db/worker_priority.ts raises it again if it starves).
  const curve = await fastestSecp256k1();
  const inline = curve.name === "native";
  const threadsBefore = config.pgliteIdle && !inline ? await workerThreadIds() : null;
  const signer = inline ? inlineSigner(platformKey.secretKey, curve) : workerSigner(platformKey.secretKey);
  log.debug("receipt signatures", { backend: curve.name, where: inline ? "inline" : "worker" });
  let signerPriority: WorkerPriority | null = null;
  if (threadsBefore) {
    // The thread the worker names, else the worker thread that appeared while it started.
    const own = await signer.thread();
    const fresh = own !== null ? [own] : [...await workerThreadIds()].filter((id) => !threadsBefore.has(id));
    const onChange = (state: string, why: string) => log.debug("receipt worker priority", { state, why });
    signerPriority = fresh.length === 1
      ? await WorkerPriority.start(fresh[0], signer.ping, { onChange })
      : WorkerPriority.off(`the receipt worker's thread not found (${fresh.length} new)`, { onChange });
  }
  // Among several instances, a node's receipts are written where its socket is (web/cluster/).
  const receipts = new (config.natsUrl ? ClusterReceiptDesk : ReceiptDesk)({
    sql: db.sql,
    key: platformKey,
    log,
    nodeWaitMs: config.receiptWaitMs,
    signer,
  });
  const registry = new NodeRegistry(kv);
  await registry.load();
  const jobs = new JobStore(kv);
  const metrics = new Metrics();
  const recorder = new JobRecorder(db.sql, log, {
    journal,
    lingerMs: config.settleLingerMs,
    onBatch: (jobs, oldestWaitMs, commitMs) => metrics.observeSettlementBatch(jobs, oldestWaitMs, commitMs),
  });
  const leases = new BalanceLeases(db.sql, log, { instance });
  const active = new Map<string, JobRun>();
  const runDeps: JobRunDeps = {
    jobs,
    recorder,
    registry,
    log,
    jobTimeoutMs: config.jobTimeoutMs,
    feeBps: config.feeBps,
    leases,
    active,
    pending: new Set(),
    metrics,
    receipts,
  };
  // Live nodes by tier: those whose socket is here (`ownOnly`), or all the router sees.
  const liveByTier = (ownOnly: boolean) => {
    const now = Date.now();
    const byTier = new Map<string, number>();
    for (const node of registry.all()) {
      if (!node.connection?.open || now - node.lastHeartbeatAt > config.nodeStaleMs) continue;
      if (ownOnly && !(node.connection instanceof NodeConnection)) continue;
      const tier = node.record.vramTier;
      byTier.set(tier, (byTier.get(tier) ?? 0) + 1);
    }
    return byTier;
  };
  metrics.watch({
    jobsInFlight: () => active.size,
    liveNodesByTier: () => liveByTier(true),
    routableNodesByTier: () => liveByTier(false),
    nodesRegistered: () => registry.all().length,
    recorderQueued: () => recorder.queued,
    journal: () => journal && { pending: journal.pendingJobs, segments: journal.segments.length },
    database: () => ({
      kind: db.kind,
      maxConnections: db.sql.options.max,
      pgliteWorkerPriority: db.kind === "pglite" ? db.priority?.state ?? "off" : null,
    }),
  });

  const listening = kv.listenQueue((msg) =>
    jobs.handleMessage(msg, async (state) => {
      const run = active.get(state.id);
      if (run) return run.recordReaped();
      // A job this instance no longer knows (it crashed or restarted): record it as timed out.
      // Its hold (if any) is released whole: what the consumer received is unknown here.
      log.warn("reaped a job left running", { jobId: state.id });
      const row: JobRow = {
        id: state.id,
        apiKeyId: state.apiKeyId === null ? null : BigInt(state.apiKeyId),
        kind: state.kind,
        model: state.model,
        nodePubkey: state.nodePubkey,
        stream: state.stream,
        status: "timeout",
        attempts: 0,
        errorCode: "job_timeout",
        enginePromptTokens: null,
        engineCompletionTokens: null,
        countedPromptTokens: null,
        countedCompletionTokens: null,
        promptTokens: 0,
        completionTokens: 0,
        ttftMs: null,
        latencyMs: Date.now() - state.createdAt,
        createdAt: new Date(state.createdAt),
        finishedAt: new Date(),
      };
      metrics.observeJob(row);
      recorder.record(row, {
        jobId: state.id,
        nodePubkey: null,
        promptTokens: 0,
        completionTokens: 0,
        promptPer1k: 0n,
        completionPer1k: 0n,
        feeBps: config.feeBps,
        cost: 0n,
      });
      await recorder.flush();
    })
  );

  // Holds left open by a control plane that died mid-job go back to their consumers once no job
  // can still be running (the job timeout, plus a minute).
  // So do the balance leases of an instance that stopped renewing them.
  const sweepHolds = () =>
    Promise.all([
      releaseStaleHolds(db.sql, config.jobTimeoutMs + 60_000)
        .then((n) => n && log.warn("released holds of jobs that never settled", { holds: n })),
      releaseStaleLeases(db.sql, config.jobTimeoutMs + 60_000)
        .then((n) => n && log.warn("released balance leases of a stopped instance", { leases: n })),
      // Vouchers past their expiry, never redeemed: their holds go back to the buyers.
      releaseExpiredVouchers(db.sql, Math.floor(Date.now() / 1000))
        .then((n) => n && log.info("released expired vouchers", { vouchers: n })),
    ]).catch((err) => log.error("stale hold sweep failed", { err }));
  await sweepHolds();
  const holdSweeper = setInterval(sweepHolds, 60_000);

  const processor = opts.processor ?? noProcessor();
  const rates = opts.rates ?? staticRates();
  const payoutDeps: PayoutDeps = {
    sql: db.sql,
    processor,
    rates,
    minPayoutCents: config.minPayoutCents,
    autoPayoutCents: config.autoPayoutCents,
    log,
  };
  // Payouts interrupted by a crash or a processor outage are resumed (same idempotency key, so
  // never paid twice), payouts the processor is still sending are checked when due (backing off
  // to hourly), and operators over the automatic threshold are paid, every minute.
  let payoutsRunning: Promise<unknown> = Promise.resolve();
  const payoutSweeper = setInterval(() => {
    payoutsRunning = payoutsRunning.then(() => resumeOpenPayouts(payoutDeps))
      .then(() => runAutomaticPayouts(payoutDeps))
      .catch((err) => log.error("payout sweep failed", { err }));
  }, 60_000);

  const reputation = new ReputationService({
    sql: db.sql,
    registry,
    log,
    halfLifeS: config.reputationHalfLifeS,
    refreshMs: config.reputationRefreshMs,
  });
  receipts.onReceipt(reputation.onReceipt);
  const relayMirror = config.relays.length === 0
    ? null
    : new RelayMirror({ urls: config.relays, log, verifyEvent: curve.verifyEvent });
  if (relayMirror) receipts.onReceipt(relayMirror.onReceipt);
  const direct = new DirectJobs({
    registry,
    receipts,
    log,
    ackWaitMs: config.directAckWaitMs,
    jobTimeoutMs: config.jobTimeoutMs,
  });
  const auth = new ApiKeyAuth(db.sql);
  // Among several instances, a direct job's receipt reaches the node's instance: its owner settles it.
  let cluster: Cluster | null = null;
  receipts.onNodeReceipt((node, receipt) => {
    const owner = cluster?.direct?.remoteOwner(receipt.content.task_id) ?? null;
    if (owner === null) direct.nodeReceipt(node, receipt);
    else cluster!.direct!.forwardReceipt(owner, node, receipt);
  });
  reputation.start();
  cluster = config.natsUrl
    ? await openCluster({
      url: config.natsUrl,
      prefix: config.natsPrefix,
      instance,
      registry,
      log,
      receipts: receipts as ClusterReceiptDesk,
      direct,
      onInvalidate: (inv) => auth.forget(inv.key),
      jobTimeoutMs: config.jobTimeoutMs,
    })
    : null;
  // Not ready while NATS does not answer: jobs for nodes on other instances would fail.
  const nc = cluster?.nc;
  if (nc) health.addCheck("nats", async () => void await nc.rtt());

  const rate = config.keyRateLimitPerSec;
  return {
    config,
    log,
    db,
    kv,
    state,
    health,
    registry,
    jobs,
    recorder,
    leases,
    auth,
    keyLimiter: state.limiter("api_key", { ratePerSec: rate, burst: rate * 2 }),
    keyCreationLimiter: state.limiter("key_creation", {
      ratePerSec: config.keyCreationPerMinute / 60,
      burst: config.keyCreationPerMinute,
    }),
    runDeps,
    processor,
    webhookSecret: opts.webhookSecret ?? config.coinPayPortal?.webhookSecret ?? null,
    rates,
    metrics,
    reputation,
    platformKey,
    receipts,
    direct,
    cluster,
    relayMirror,
    async close() {
      // First, so the other instances stop sending jobs to this one's nodes.
      await cluster?.close();
      clearInterval(holdSweeper);
      clearInterval(payoutSweeper);
      await payoutsRunning;
      for (const node of registry.all()) node.connection?.close("server shutting down");
      direct.close();
      await Promise.allSettled([...runDeps.pending]);
      await jobs.flush();
      await recorder.close();
      await signerPriority?.stop();
      await receipts.close();
      // After the desk: its last receipts are still sent, for as long as a publish may take.
      await relayMirror?.flush(5_000);
      relayMirror?.close();
      // After the desk: the refreshes its last receipts asked for are awaited.
      await reputation.close();
      journal?.close();
      await leases.close();
      if (!opts.state) await state.close();
      if (!opts.kv) {
        kv.close();
        await listening.catch(() => {});
      }
      if (!opts.db) await db.close();
    },
  };
}
