// Settlement throughput: how many finished jobs per second the control plane can settle, the way
// it does it (`JobRecorder`: one transaction per flush holding the job rows and their
// settlements), on embedded PGlite and on a real PostgreSQL, in the same run. Keys are funded by
// real deposits and jobs are reserved with `reserveJob` first (timed on its own, 16 callers);
// then each configuration settles its own share of the reserved jobs. Batch 1 is the single-job
// baseline. The "against leases" rows settle jobs the way the control plane's requests are
// billed: reserved in memory against a balance lease (one `takeLease` per key, untimed), each
// batch's job rows and settlements in one statement (the lease jobs share one ledger
// transaction). The ledger is reconciled after each backend: any discrepancy exits non-zero.
// Targets on the 2-core bench machine: ≥ 1,000 settlements/s on PGlite, ≥ 3,000/s on PostgreSQL.
import {
  applyPaymentEvent,
  createApiKey,
  type Database,
  insertJobs,
  insertPayment,
  type JobRow,
  migrate,
  openDatabase,
  reconcile,
  settleJobs,
  type Settlement,
  takeLease,
} from "../db/mod.ts";
import { DEFAULT_POSTGRES_URL, openBenchPostgres, redactUrl } from "./bench_postgres.ts";
import { reserveJob } from "../testing/reserve_job.ts";

/** One timed way of settling: batches of `batch` jobs, `flushers` transactions at a time. */
export interface SettleConfig {
  batch: number;
  flushers: number;
  jobs: number;
  /** Jobs reserved against balance leases rather than one by one with `reserveJob`. */
  lease?: boolean;
}

/** Options for {@link runSettleBench}. */
export interface SettleBenchOptions {
  /** The PostgreSQL to use (a fresh schema in it, dropped after); null: PGlite only. */
  postgresUrl?: string | null;
  /** API keys funded (jobs are spread over them round-robin). */
  keys?: number;
  /** Operators credited (node pubkeys). */
  nodes?: number;
  /** Concurrent `reserveJob` callers. */
  reserveCallers?: number;
  /** What to time on PGlite (one connection, so one flusher). */
  pgliteConfigs?: SettleConfig[];
  /** What to time on PostgreSQL. */
  postgresConfigs?: SettleConfig[];
  /** Printed lines go here (default: stdout). */
  print?: (line: string) => void;
}

/** One configuration's figure. */
export interface ConfigResult extends SettleConfig {
  seconds: number;
  perSecond: number;
}

/** One backend's figures, or why it was skipped. */
export type BackendResult =
  | {
    backend: "pglite" | "postgres";
    description: string;
    reservations: number;
    reservePerSecond: number;
    configs: ConfigResult[];
    baselinePerSecond: number;
    bestPerSecond: number;
    target: number;
    met: boolean;
    discrepancies: number;
    reconcileSeconds: number;
  }
  | { backend: "pglite" | "postgres"; skipped: string };

const TARGETS = { pglite: 1_000, postgres: 3_000 } as const;
const DEPOSIT = 1_000_000_000_000n; // 1,000 USD in nano-USD per key: never the limit here.
const PROMPT_PER_1K = 200_000n;
const COMPLETION_PER_1K = 600_000n;
const FEE_BPS = 1000;

const DEFAULTS = {
  keys: 64,
  nodes: 8,
  reserveCallers: 16,
  pgliteConfigs: [
    { batch: 1, flushers: 1, jobs: 100 },
    { batch: 50, flushers: 1, jobs: 1_000 },
    { batch: 500, flushers: 1, jobs: 2_000 },
    { batch: 20, flushers: 1, jobs: 1_000, lease: true },
    { batch: 500, flushers: 1, jobs: 2_000, lease: true },
  ],
  postgresConfigs: [
    { batch: 1, flushers: 1, jobs: 200 },
    { batch: 1, flushers: 4, jobs: 400 },
    { batch: 50, flushers: 1, jobs: 1_000 },
    { batch: 50, flushers: 4, jobs: 1_500 },
    { batch: 500, flushers: 1, jobs: 2_000 },
    { batch: 500, flushers: 4, jobs: 3_000 },
    { batch: 20, flushers: 1, jobs: 1_000, lease: true },
    { batch: 20, flushers: 4, jobs: 2_000, lease: true },
  ],
};

/** A bench job: its id, its key, its node, its tokens. */
interface BenchJob {
  id: string;
  apiKeyId: bigint;
  node: string;
  promptTokens: number;
  completionTokens: number;
  /** The lease the job was reserved against (null: `reserveJob`). */
  leaseId: string | null;
}

function jobCost(j: BenchJob): bigint {
  // As shared/pricing rounds it: per-1k prices, rounded up to the next nano-USD.
  return (BigInt(j.promptTokens) * PROMPT_PER_1K + BigInt(j.completionTokens) * COMPLETION_PER_1K + 999n) /
    1000n;
}

function jobRow(j: BenchJob): JobRow {
  const now = new Date();
  return {
    id: j.id,
    apiKeyId: j.apiKeyId,
    kind: "chat",
    model: "bench-model",
    nodePubkey: j.node,
    stream: false,
    status: "completed",
    attempts: 1,
    errorCode: null,
    enginePromptTokens: j.promptTokens,
    engineCompletionTokens: j.completionTokens,
    countedPromptTokens: j.promptTokens,
    countedCompletionTokens: j.completionTokens,
    promptTokens: j.promptTokens,
    completionTokens: j.completionTokens,
    ttftMs: 5,
    latencyMs: 40,
    createdAt: now,
    finishedAt: now,
  };
}

function settlement(j: BenchJob): Settlement {
  return {
    jobId: j.id,
    nodePubkey: j.node,
    promptTokens: j.promptTokens,
    completionTokens: j.completionTokens,
    promptPer1k: PROMPT_PER_1K,
    completionPer1k: COMPLETION_PER_1K,
    feeBps: FEE_BPS,
    cost: jobCost(j),
    lease: j.leaseId ? { id: j.leaseId, apiKeyId: j.apiKeyId, hold: jobCost(j) * 2n } : null,
  };
}

/** Funds `keys` API keys, each through a confirmed deposit, as a consumer's money arrives. */
async function fundKeys(db: Database, keys: number): Promise<bigint[]> {
  const ids: bigint[] = [];
  for (let i = 0; i < keys; i++) {
    const { row } = await createApiKey(db.sql, { label: `bench ${i}` });
    const paymentId = `bench_pay_${i}`;
    await insertPayment(db.sql, {
      id: paymentId,
      apiKeyId: row.id,
      amount: DEPOSIT,
      coin: "BTC",
      paymentAddress: "bench",
      cryptoAmount: "0",
      qrCode: "",
      status: "pending",
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const outcome = await applyPaymentEvent(db.sql, {
      eventId: `bench_evt_${i}`,
      type: "payment.confirmed",
      paymentId,
      status: "confirmed",
      txHash: null,
      amountPaid: DEPOSIT,
    });
    if (outcome !== "credited") throw new Error(`bench deposit ${paymentId} not credited: ${outcome}`);
    ids.push(row.id);
  }
  return ids;
}

/** Reserves every job with `callers` concurrent `reserveJob` calls; returns the seconds taken. */
async function reserveAll(db: Database, jobs: BenchJob[], callers: number): Promise<number> {
  jobs = jobs.filter((j) => j.leaseId === null);
  let next = 0;
  const caller = async () => {
    while (next < jobs.length) {
      const j = jobs[next++];
      // The hold is the worst case: twice the actual cost here, so the refund posting is exercised.
      const r = await reserveJob(db.sql, { jobId: j.id, apiKeyId: j.apiKeyId, amount: jobCost(j) * 2n });
      if (!r.ok) throw new Error(`bench reservation ${j.id} refused (available ${r.available})`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  return (performance.now() - t0) / 1000;
}

/** One lease per key for the lease jobs, each holding what its jobs set aside (twice their cost). */
async function takeLeases(db: Database, jobs: BenchJob[]): Promise<void> {
  const held = new Map<string, { apiKeyId: bigint; amount: bigint }>();
  for (const j of jobs) {
    if (j.leaseId === null) continue;
    const l = held.get(j.leaseId) ?? { apiKeyId: j.apiKeyId, amount: 0n };
    l.amount += jobCost(j) * 2n;
    held.set(j.leaseId, l);
  }
  for (const [leaseId, l] of held) {
    const took = await takeLease(db.sql, {
      leaseId,
      apiKeyId: l.apiKeyId,
      instance: "bench",
      seq: 1,
      need: l.amount,
      want: l.amount,
    });
    if (!took.ok) throw new Error(`bench lease ${leaseId} refused (available ${took.available})`);
  }
}

/** Settles `jobs` as the job recorder does: `flushers` concurrent transactions of `batch` each. */
async function settleAll(db: Database, jobs: BenchJob[], c: SettleConfig): Promise<number> {
  const batches: BenchJob[][] = [];
  for (let i = 0; i < jobs.length; i += c.batch) batches.push(jobs.slice(i, i + c.batch));
  let next = 0;
  let settled = 0;
  const flusher = async () => {
    while (next < batches.length) {
      const batch = batches[next++];
      await db.sql.begin(async (tx) => {
        let done;
        if (c.lease) {
          // As the recorder writes them: the job rows and their settlements in one statement.
          done = await settleJobs(tx, batch.map(settlement), batch.map(jobRow));
        } else {
          await insertJobs(tx, batch.map(jobRow));
          done = await settleJobs(tx, batch.map(settlement));
        }
        // Not `settled += await …`: that reads `settled` before the await and loses updates.
        settled += done.length;
      });
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c.flushers }, flusher));
  const seconds = (performance.now() - t0) / 1000;
  if (settled !== jobs.length) throw new Error(`settled ${settled} of ${jobs.length} jobs`);
  return seconds;
}

function configName(c: SettleConfig): string {
  return `batch ${c.batch}${c.flushers > 1 ? ` × ${c.flushers} flushers` : ""}${
    c.batch === 1 && c.flushers === 1 ? " (baseline)" : ""
  }${c.lease ? " against leases" : ""}`;
}

async function benchBackend(
  db: Database,
  backend: "pglite" | "postgres",
  o: Required<Omit<SettleBenchOptions, "postgresUrl" | "print">>,
  print: (line: string) => void,
): Promise<BackendResult> {
  await migrate(db.sql);
  const keyIds = await fundKeys(db, o.keys);
  const nodes = Array.from({ length: o.nodes }, (_, i) => i.toString(16).padStart(2, "0").repeat(32));
  const configs = backend === "pglite" ? o.pgliteConfigs : o.postgresConfigs;
  // Every configuration gets jobs of its own, spread over all keys and nodes.
  let n = 0;
  const shares = configs.map((c, ci) =>
    Array.from({ length: c.jobs }, (): BenchJob => {
      const i = n++;
      return {
        id: `bench_job_${i}`,
        apiKeyId: keyIds[i % keyIds.length],
        node: nodes[i % nodes.length],
        promptTokens: 100 + (i % 900),
        completionTokens: 50 + (i % 450),
        leaseId: c.lease ? `bench_lease_${ci}_${i % keyIds.length}` : null,
      };
    })
  );
  const all = shares.flat();
  const reserved = all.filter((j) => j.leaseId === null).length;
  const reserveSeconds = await reserveAll(db, all, o.reserveCallers);
  const reservePerSecond = reserved / reserveSeconds;
  await takeLeases(db, all);

  print(`\nsettlement throughput — ${db.description} (${o.keys} keys, ${o.nodes} nodes)`);
  print("configuration                              jobs   seconds      per second");
  const row = (name: string, jobs: number, seconds: number, unit: string) =>
    print(
      `${name.padEnd(38)} ${String(jobs).padStart(8)}  ${seconds.toFixed(3).padStart(8)}  ${
        (jobs / seconds).toFixed(0).padStart(8)
      } ${unit}`,
    );
  row(`reserveJob × ${o.reserveCallers} callers`, reserved, reserveSeconds, "reservations/s");
  const results: ConfigResult[] = [];
  for (const [i, c] of configs.entries()) {
    const seconds = await settleAll(db, shares[i], c);
    results.push({ ...c, seconds, perSecond: c.jobs / seconds });
    row(configName(c), c.jobs, seconds, "settlements/s");
  }

  const t0 = performance.now();
  const discrepancies = await reconcile(db.sql);
  const reconcileSeconds = (performance.now() - t0) / 1000;
  print(`reconcile: ${discrepancies.length} discrepancies (${reconcileSeconds.toFixed(2)} s)`);
  for (const d of discrepancies.slice(0, 10)) print(`  ${d.check}: ${d.detail}`);

  const baseline = results.find((r) => r.batch === 1 && r.flushers === 1)?.perSecond ?? 0;
  const best = Math.max(...results.map((r) => r.perSecond));
  return {
    backend,
    description: db.description,
    reservations: reserved,
    reservePerSecond,
    configs: results,
    baselinePerSecond: baseline,
    bestPerSecond: best,
    target: TARGETS[backend],
    met: best >= TARGETS[backend],
    discrepancies: discrepancies.length,
    reconcileSeconds,
  };
}

/** Runs the settlement bench on PGlite and, when it answers, on PostgreSQL; prints and returns the figures. */
export async function runSettleBench(opts: SettleBenchOptions = {}): Promise<BackendResult[]> {
  const o = {
    keys: opts.keys ?? DEFAULTS.keys,
    nodes: opts.nodes ?? DEFAULTS.nodes,
    reserveCallers: opts.reserveCallers ?? DEFAULTS.reserveCallers,
    pgliteConfigs: opts.pgliteConfigs ?? DEFAULTS.pgliteConfigs,
    postgresConfigs: opts.postgresConfigs ?? DEFAULTS.postgresConfigs,
  };
  const print = opts.print ?? ((line: string) => console.log(line));
  const postgresUrl = opts.postgresUrl === undefined ? DEFAULT_POSTGRES_URL : opts.postgresUrl;
  const results: BackendResult[] = [];

  const lite = await openDatabase({});
  try {
    results.push(await benchBackend(lite, "pglite", o, print));
  } finally {
    await lite.close();
  }

  if (postgresUrl === null) {
    results.push({ backend: "postgres", skipped: "no PostgreSQL URL given" });
  } else {
    const flushers = Math.max(...o.postgresConfigs.map((c) => c.flushers));
    const opened = await openBenchPostgres(postgresUrl, Math.max(o.reserveCallers, flushers));
    const pg = typeof opened === "string" ? `PostgreSQL at ${redactUrl(postgresUrl)} ${opened}` : opened;
    if (typeof pg === "string") {
      print(`\nsettlement throughput — PostgreSQL skipped: ${pg}`);
      results.push({ backend: "postgres", skipped: pg });
    } else {
      try {
        results.push(await benchBackend(pg, "postgres", o, print));
      } finally {
        await pg.drop();
      }
    }
  }

  print("");
  for (const r of results) {
    if ("skipped" in r) {
      print(`${r.backend.padEnd(10)} skipped`);
      continue;
    }
    print(
      `${r.backend.padEnd(10)} best ${r.bestPerSecond.toFixed(0).padStart(6)} settlements/s (baseline ${
        r.baselinePerSecond.toFixed(0)
      }/s, ×${(r.bestPerSecond / r.baselinePerSecond).toFixed(1)})   target ≥ ${r.target}/s   ${
        r.met ? "MET" : "MISSED"
      }   discrepancies ${r.discrepancies}`,
    );
  }
  const round = (x: number) => Math.round(x);
  print(JSON.stringify({
    bench: "settlement",
    results: Object.fromEntries(results.map((r) => [
      r.backend,
      "skipped" in r ? { skipped: r.skipped } : {
        reservations_per_s: round(r.reservePerSecond),
        reserve_callers: o.reserveCallers,
        baseline_per_s: round(r.baselinePerSecond),
        best_per_s: round(r.bestPerSecond),
        configs: r.configs.map((c) => ({
          batch: c.batch,
          flushers: c.flushers,
          jobs: c.jobs,
          lease: c.lease ?? false,
          seconds: Number(c.seconds.toFixed(3)),
          per_s: round(c.perSecond),
        })),
        target_per_s: r.target,
        target: r.met ? "MET" : "MISSED",
        discrepancies: r.discrepancies,
      },
    ])),
  }));
  return results;
}

if (import.meta.main) {
  const url = Deno.env.get("INFERNET_TEST_DATABASE_URL") ?? DEFAULT_POSTGRES_URL;
  const results = await runSettleBench({ postgresUrl: url });
  const broken = results.some((r) => !("skipped" in r) && r.discrepancies > 0);
  if (broken) Deno.exit(1);
}
