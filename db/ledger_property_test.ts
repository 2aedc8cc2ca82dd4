// Property test of the money paths: random sequences of deposits, jobs (reserved, then completed,
// cancelled, failed, retried, settled in batches or left for the stale-hold sweep), balance leases
// (taken, topped up, refused, shared out to jobs in memory, settled against in the same batches as
// ordinary jobs, released, swept when their instance stops renewing them) and payouts, run against
// the real ledger code beside a model in plain bigint, plus races whose money outcome does not
// depend on who wins. After every operation each account and each lease equals the model; after
// each sequence the ledger reconciles (its only findings the ones the model expects: completed jobs
// of a released lease, which no longer pays) and every nano-USD charged is accounted for. A failure
// names its seed: replay it with INFERNET_PROPERTY_SEED=<seed> (that sequence alone).
import assert from "node:assert/strict";
import { openTestDatabase, testOnEachDatabase } from "../testing/databases.ts";
import type { Sql } from "./client.ts";
import { createApiKey } from "./api_keys.ts";
import {
  findJobCharge,
  releaseStaleHolds,
  type SettledCharge,
  settleJobs,
  type Settlement,
} from "./charges.ts";
import { insertJobs, type JobRow, type JobStatus } from "./jobs.ts";
import { applyPaymentEvent, findPayment, insertPayment, type PaymentEventOutcome } from "./payments.ts";
import { createPayout, failPayout, markPayoutCompleted, markPayoutSent, PayoutError } from "./payouts.ts";
import { type LeaseTake, releaseLease, releaseStaleLeases, renewLeases, takeLease } from "./leases.ts";
import { type Discrepancy, reconcile } from "./reconcile.ts";
import { jobCost, PRICE_BOUNDS, splitFee } from "../shared/pricing/price.ts";
import { reserveJob } from "../testing/reserve_job.ts";

const DEFAULT_SEED = 20_250_601;
const ENV_SEED = Deno.env.get("INFERNET_PROPERTY_SEED");
const SEEDS = ENV_SEED === undefined ? [DEFAULT_SEED, 0x5eed_0001, 0x5eed_0002] : [parseSeed(ENV_SEED)];
const OPS_PER_SEQUENCE = 150;
/** The paths the default seeds must take at least once. */
const PATHS = [
  "deposit credited",
  "deposit expired",
  "reservation refused",
  "whole balance held",
  "job reserved twice",
  "settled completed",
  "settled cancelled",
  "settled failed",
  "charge capped at the hold",
  "retried settle",
  "batch of several jobs",
  "same settlement twice in a batch",
  "retry of a settled job in a batch",
  "whole flush retried",
  "stale hold released",
  "settle after the sweep",
  "payout below_minimum",
  "payout insufficient_funds",
  "payout completed",
  "payout failed",
  "racing reservations refused",
  "racing payouts refused",
  "concurrent flushes",
  // Balance leases.
  "lease taken",
  "lease topped up",
  "lease take partial",
  "lease take refused",
  "lease top-up seq repeated",
  "top-up of a released lease refused",
  "lease share from its free part",
  "lease share after a top-up",
  "lease settled completed",
  "lease settled cancelled",
  "lease settled failed",
  "lease charge capped at the share",
  "retried settle of a lease job",
  "same lease job twice in a batch",
  "lease and plain jobs in one batch",
  "lease released after settling jobs",
  "lease released unused",
  "lease released twice",
  "stale lease swept",
  "renewed lease survives the sweep",
  "settle after the lease sweep",
  "completed job of a released lease reported",
  "racing lease takes",
  "racing lease takes refused",
  "top-up racing a settlement",
  "lease job in two concurrent flushes",
];
/** Holds backdated past this are released by the sweep; fresh ones never are. */
const STALE_AFTER_MS = 60_000;

function parseSeed(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`INFERNET_PROPERTY_SEED must be an integer, not ${text}`);
  }
  return n;
}

/** sfc32 seeded through splitmix32: small, fast, and the same sequence on every platform. */
class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const mix = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A uniform uint32. */
  next(): number {
    const t0 = (this.#a + this.#b) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    const c = (this.#c << 21) | (this.#c >>> 11);
    this.#d = (this.#d + 1) | 0;
    const t = (t0 + this.#d) | 0;
    this.#c = (c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [lo, hi] (a span below 2^32). */
  int(lo: number, hi: number): number {
    return lo + this.next() % (hi - lo + 1);
  }

  /** A bigint in [lo, hi]. */
  big(lo: bigint, hi: bigint): bigint {
    const r = (BigInt(this.next()) << 32n) | BigInt(this.next());
    return lo + r % (hi - lo + 1n);
  }

  /** A bigint of between `minDigits` and `maxDigits` decimal digits: spread over magnitudes. */
  magnitude(minDigits: number, maxDigits: number): bigint {
    const low = 10n ** BigInt(this.int(minDigits, maxDigits) - 1);
    return this.big(low, low * 10n - 1n);
  }

  chance(p: number): boolean {
    return this.next() < p * 4294967296;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.next() % xs.length];
  }

  weighted<T>(choices: readonly [T, number][]): T {
    let r = this.next() % choices.reduce((s, [, w]) => s + w, 0);
    for (const [value, w] of choices) {
      if (r < w) return value;
      r -= w;
    }
    throw new Error("unreachable");
  }
}

/** What the ledger should hold, kept in plain bigint beside it. */
class Model {
  readonly accounts = new Map<string, bigint>();
  depositsCredited = 0n;
  reservedSettled = 0n;
  charged = 0n;
  refunds = 0n;
  operatorShares = 0n;
  fees = 0n;
  payoutsCompleted = 0n;
  /** What jobs settled against leases were charged (part of `charged`). */
  leaseCharged = 0n;
  /** Every lease taken, by id (released ones too). */
  readonly leases = new Map<string, Lease>();
  /** What `reconcile` must report, and nothing else: completed jobs of a released lease. */
  readonly findings: Discrepancy[] = [];
  /** How often each interesting path was taken (a sequence that skips one proves less). */
  readonly paths = new Map<string, number>();

  took(path: string): void {
    this.paths.set(path, (this.paths.get(path) ?? 0) + 1);
  }

  balance(kind: string, owner = ""): bigint {
    return this.accounts.get(`${kind}|${owner}`) ?? 0n;
  }

  move(kind: string, owner: string, amount: bigint): void {
    this.accounts.set(`${kind}|${owner}`, this.balance(kind, owner) + amount);
  }
}

interface OpenJob {
  row: JobRow;
  settlement: Settlement;
  owner: string;
  /** The hold (for a lease job: its share of the lease, set aside in memory only). */
  reserved: bigint;
  /** Set for a job reserved against a balance lease. */
  lease?: Lease;
}

/** A balance lease as the model sees it: the database row and the instance's in-memory count. */
interface Lease {
  id: string;
  key: { id: bigint; owner: string };
  instance: string;
  /** The last top-up's sequence number (each top-up is its own idempotent transaction). */
  seq: number;
  /** The last sequence number that moved money (repeating it must be refused). */
  lastTakenSeq: number;
  /** balance_leases.held: taken, minus what its jobs were charged, until released. */
  held: bigint;
  /** Held and not set aside for a job in flight (what the instance may still share out). */
  free: bigint;
  released: boolean;
  /** Released by the stale-lease sweep (its instance stopped renewing it). */
  swept: boolean;
  jobsSettled: number;
}

interface OpenPayout {
  id: bigint;
  operator: string;
  amount: bigint;
}

/** One sequence's state: the database, the model, and the jobs and payouts not yet finished. */
interface Run {
  sql: Sql;
  rng: Prng;
  model: Model;
  seed: number;
  prefix: string;
  keys: { id: bigint; owner: string }[];
  operators: string[];
  /** Control-plane instances (each holds at most one open lease per key). */
  instances: string[];
  counter: number;
  /** Ended jobs whose settlement waits for the next batch (their holds are still open). */
  pending: OpenJob[];
  /** Holds left open and backdated, for the stale-hold sweep. */
  stale: OpenJob[];
  /** Settled jobs (retrying any of them must change nothing). */
  settled: OpenJob[];
  openPayouts: OpenPayout[];
}

function nextId(run: Run, what: string): string {
  return `${run.prefix}${what}_${run.counter++}`;
}

function jobRow(
  id: string,
  apiKeyId: bigint,
  status: JobStatus,
  node: string | null,
  promptTokens: number,
  completionTokens: number,
): JobRow {
  const now = new Date();
  return {
    id,
    apiKeyId,
    kind: "chat",
    model: "m",
    nodePubkey: node,
    stream: false,
    status,
    attempts: 1,
    errorCode: status === "completed" ? null : status,
    enginePromptTokens: node ? promptTokens : null,
    engineCompletionTokens: node ? completionTokens : null,
    countedPromptTokens: promptTokens,
    countedCompletionTokens: completionTokens,
    promptTokens,
    completionTokens,
    ttftMs: node ? 1 : null,
    latencyMs: 2,
    createdAt: now,
    finishedAt: now,
  };
}

/** The charge the pricing rules give: the cost (zero without a node) capped at the hold, split. */
function expectedCharge(job: OpenJob): SettledCharge {
  const s = job.settlement;
  const cost = s.nodePubkey ? s.cost : 0n;
  const charged = cost < job.reserved ? cost : job.reserved;
  const { platformFee, operatorShare } = splitFee(charged, s.feeBps);
  return {
    jobId: s.jobId,
    apiKeyId: BigInt(job.owner),
    reserved: job.reserved,
    charged,
    operatorShare,
    platformFee,
    nodePubkey: s.nodePubkey,
  };
}

function modelSettle(model: Model, c: SettledCharge): void {
  const owner = c.apiKeyId.toString();
  model.move("consumer_holds", owner, -c.reserved);
  model.move("consumer_balance", owner, c.reserved - c.charged);
  if (c.nodePubkey) model.move("operator_earnings", c.nodePubkey, c.operatorShare);
  model.move("platform_fees", "", c.platformFee);
  model.reservedSettled += c.reserved;
  model.charged += c.charged;
  model.refunds += c.reserved - c.charged;
  model.operatorShares += c.operatorShare;
  model.fees += c.platformFee;
}

/**
 * A job settled against its lease: the charge is drawn from the lease's holds (no refund to the
 * balance); the rest of the job's share goes back to the lease's free part, as the instance does.
 */
function modelSettleLease(model: Model, lease: Lease, c: SettledCharge): void {
  const owner = c.apiKeyId.toString();
  model.move("consumer_holds", owner, -c.charged);
  if (c.nodePubkey) model.move("operator_earnings", c.nodePubkey, c.operatorShare);
  model.move("platform_fees", "", c.platformFee);
  lease.held -= c.charged;
  lease.free += c.reserved - c.charged;
  lease.jobsSettled++;
  model.charged += c.charged;
  model.leaseCharged += c.charged;
  model.operatorShares += c.operatorShare;
  model.fees += c.platformFee;
}

/** A top-up (or first take) of `taken`: from the key's balance into its holds, for the lease. */
function modelTake(model: Model, lease: Lease, taken: bigint): void {
  model.move("consumer_balance", lease.key.owner, -taken);
  model.move("consumer_holds", lease.key.owner, taken);
  lease.held += taken;
  lease.free += taken;
  lease.lastTakenSeq = lease.seq;
  model.leases.set(lease.id, lease);
}

/** A release: what the lease still holds goes back to the balance; jobs in flight no longer pay. */
function modelRelease(model: Model, lease: Lease): void {
  model.move("consumer_balance", lease.key.owner, lease.held);
  model.move("consumer_holds", lease.key.owner, -lease.held);
  lease.held = 0n;
  lease.free = 0n;
  lease.released = true;
}

/** The key's open lease on this instance, or a new one (registered once money moves into it). */
function leaseOf(run: Run, key: { id: bigint; owner: string }, instance: string): Lease {
  for (const l of run.model.leases.values()) {
    if (!l.released && l.key.id === key.id && l.instance === instance) return l;
  }
  return {
    id: nextId(run, "lease"),
    key,
    instance,
    seq: 0,
    lastTakenSeq: 0,
    held: 0n,
    free: 0n,
    released: false,
    swept: false,
    jobsSettled: 0,
  };
}

function openLeases(run: Run): Lease[] {
  return [...run.model.leases.values()].filter((l) => !l.released && l.id.startsWith(run.prefix));
}

/**
 * Takes (or tops up) a lease for between `need` and `want`: the model says what it must get (as
 * much of `want` as the balance has, refused below `need`); the lease is updated from that.
 */
async function take(run: Run, lease: Lease, need: bigint, want: bigint): Promise<LeaseTake> {
  const { sql, model } = run;
  const balance = model.balance("consumer_balance", lease.key.owner);
  const first = !model.leases.has(lease.id);
  const seq = ++lease.seq;
  const got = await takeLease(sql, {
    leaseId: lease.id,
    apiKeyId: lease.key.id,
    instance: lease.instance,
    seq,
    need,
    want,
  });
  if (balance < need) {
    assert.deepEqual(got, { ok: false, available: balance }, `take ${need}..${want} of ${balance}`);
    model.took("lease take refused");
    return got;
  }
  const taken = balance < want ? balance : want;
  assert.deepEqual(got, { ok: true, taken }, `take ${need}..${want} of ${balance}`);
  modelTake(model, lease, taken);
  model.took(first ? "lease taken" : "lease topped up");
  if (taken < want) model.took("lease take partial");
  return got;
}

/** The expected "a completed job was never charged" finding for a job row (see reconcile). */
function neverCharged(row: JobRow): Discrepancy {
  return {
    check: "a completed job was never charged",
    detail: `id=${row.id} prompt_tokens=${row.promptTokens} completion_tokens=${row.completionTokens}`,
  };
}

/** Writes job rows and settlements in one transaction, as the control plane's recorder does. */
function recordBatch(sql: Sql, rows: JobRow[], settlements: Settlement[]): Promise<SettledCharge[]> {
  return sql.begin(async (tx) => {
    await insertJobs(tx, rows);
    return await settleJobs(tx, settlements);
  });
}

/** Charges the model expects for `jobs`, applied to it: all but those of a released lease. */
function applySettled(run: Run, jobs: OpenJob[]): SettledCharge[] {
  const { model } = run;
  const expected: SettledCharge[] = [];
  for (const j of jobs) {
    if (j.lease?.released) {
      // Its lease was released (its instance given up for dead, or shut down): the job no longer
      // pays and nothing moves. Its row is recorded; a completed one is reported as never charged.
      if (j.row.status === "completed") {
        model.findings.push(neverCharged(j.row));
        model.took("completed job of a released lease reported");
      }
      if (j.lease.swept) model.took("settle after the lease sweep");
      continue;
    }
    const c = expectedCharge(j);
    expected.push(c);
    const capped = j.settlement.nodePubkey && j.settlement.cost > j.reserved;
    if (j.lease) {
      modelSettleLease(model, j.lease, c);
      model.took(`lease settled ${j.row.status}`);
      if (capped) model.took("lease charge capped at the share");
    } else {
      modelSettle(model, c);
      model.took(`settled ${j.row.status}`);
      if (capped) model.took("charge capped at the hold");
    }
    run.settled.push(j);
  }
  return expected;
}

/** Settles fresh jobs (and retries of settled ones, which must be skipped); checks what came back. */
async function settleFresh(run: Run, jobs: OpenJob[], retries: OpenJob[] = []): Promise<void> {
  const { rng, model } = run;
  const settlements = [...jobs, ...retries].map((j) => j.settlement);
  // Now and then the same settlement twice in one batch: still one charge.
  if (jobs.length > 0 && rng.chance(0.25)) {
    const leased = jobs.filter((j) => j.lease);
    const twice = leased.length > 0 && rng.chance(0.5) ? rng.pick(leased) : rng.pick(jobs);
    settlements.push(twice.settlement);
    model.took(twice.lease ? "same lease job twice in a batch" : "same settlement twice in a batch");
  }
  // Lease jobs and ordinary ones in any order, as the recorder's batches come.
  for (let i = settlements.length - 1; i > 0; i--) {
    const k = rng.int(0, i);
    [settlements[i], settlements[k]] = [settlements[k], settlements[i]];
  }
  const rows = [...jobs, ...retries].map((j) => j.row);
  const got = await recordBatch(run.sql, rows, settlements);
  const expected = applySettled(run, jobs);
  const byId = (a: SettledCharge, b: SettledCharge) => a.jobId < b.jobId ? -1 : 1;
  assert.deepEqual([...got].sort(byId), [...expected].sort(byId), "settled charges");
  for (const j of jobs) {
    if (j.lease?.released) {
      assert.equal(
        await findJobCharge(run.sql, j.row.id),
        null,
        "a job of a released lease got a charge row",
      );
    }
  }
  if (jobs.length > 1) model.took("batch of several jobs");
  if (jobs.some((j) => j.lease) && jobs.some((j) => !j.lease)) {
    model.took("lease and plain jobs in one batch");
  }
  if (retries.length > 0) model.took("retry of a settled job in a batch");
  if (retries.some((j) => j.lease)) model.took("retried settle of a lease job");
  if (run.rng.chance(0.15)) {
    run.model.took("whole flush retried");
    // The whole flush retried (its commit was not acknowledged): a no-op.
    assert.deepEqual(await recordBatch(run.sql, rows, settlements), [], "a retried flush settled again");
  }
}

/** A settlement of the same job with other numbers (a retry that must not be applied). */
function altered(run: Run, job: OpenJob, status: JobStatus = job.row.status): OpenJob {
  const operator = run.rng.pick(run.operators);
  const promptTokens = run.rng.int(1, 5000);
  const completionTokens = run.rng.int(1, 5000);
  const settlement: Settlement = {
    ...job.settlement,
    nodePubkey: operator,
    promptTokens,
    completionTokens,
    promptPer1k: 5_000n,
    completionPer1k: 7_000n,
    cost: jobCost({ promptTokens, completionTokens, promptPer1k: 5_000n, completionPer1k: 7_000n }),
  };
  const row = jobRow(job.row.id, BigInt(job.owner), status, operator, promptTokens, completionTokens);
  return { ...job, row, settlement };
}

async function keyAccounts(sql: Sql, owner: string): Promise<Record<string, bigint>> {
  const rows = await sql<{ kind: string; balance: bigint }[]>`
    select kind, balance from accounts where owner = ${owner} order by kind`;
  return Object.fromEntries(rows.map((r) => [r.kind, r.balance]));
}

// ---- operations ----

async function deposit(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const key = rng.pick(run.keys);
  const id = nextId(run, "pay");
  const amount = rng.magnitude(5, 10);
  // Under- and overpayments: the processor's amount is what is credited, never the one asked.
  const paid = rng.chance(0.3) ? rng.magnitude(5, 10) : amount;
  const payment = {
    id,
    apiKeyId: key.id,
    amount,
    coin: "BTC",
    paymentAddress: "bc1q",
    cryptoAmount: "0.001",
    qrCode: "",
    status: "pending",
    expiresAt: new Date(Date.now() + 3_600_000),
  };
  await insertPayment(sql, payment);
  if (rng.chance(0.15)) {
    const again = await insertPayment(sql, { ...payment, amount: amount + 1n });
    assert.equal(again.amount, amount, "a retried payment create kept the first amount");
  }
  const event = async (
    type: string,
    status: string,
    want: PaymentEventOutcome,
    eventId = nextId(run, "evt"),
  ) => {
    const got = await applyPaymentEvent(sql, {
      eventId,
      type,
      paymentId: id,
      status,
      txHash: null,
      amountPaid: paid,
    });
    assert.equal(got, want, `${type} (${eventId})`);
    return eventId;
  };
  let credited = true;
  switch (rng.int(0, 4)) {
    case 0: {
      const first = await event("payment.confirmed", "confirmed", "credited");
      if (rng.chance(0.4)) await event("payment.confirmed", "confirmed", "duplicate_event", first);
      if (rng.chance(0.4)) await event("payment.forwarded", "forwarded", "already_credited");
      break;
    }
    case 1:
      await event("payment.forwarded", "forwarded", "credited");
      await event("payment.confirmed", "confirmed", "already_credited");
      break;
    case 2: {
      const first = await event("payment.expired", "expired", "status_updated");
      if (rng.chance(0.5)) await event("payment.expired", "expired", "duplicate_event", first);
      credited = false;
      break;
    }
    case 3:
      await event("payment.confirmed", "confirmed", "credited");
      await event("payment.expired", "expired", "ignored");
      break;
    default: {
      const got = await applyPaymentEvent(sql, {
        eventId: nextId(run, "evt"),
        type: "payment.confirmed",
        paymentId: `${id}_unknown`,
        status: "confirmed",
        txHash: null,
        amountPaid: amount,
      });
      assert.equal(got, "unknown_payment");
      await event("payment.confirmed", "confirmed", "credited");
    }
  }
  model.took(credited ? "deposit credited" : "deposit expired");
  if (credited) {
    model.move("processor_clearing", "", -paid);
    model.move("consumer_balance", key.owner, paid);
    model.depositsCredited += paid;
  }
  const stored = (await findPayment(sql, id))!;
  assert.equal(stored.creditedAt !== null, credited, "payment credited_at");
  assert.equal(stored.paidAmount, credited ? paid : null, "payment paid_amount");
}

/** A job's prices and size, and its worst case (the hold): as the request path computes them. */
interface Priced {
  promptTokens: number;
  maxTokens: number;
  promptPer1k: bigint;
  completionPer1k: bigint;
  hold: bigint;
}

function pricedJob(rng: Prng): Priced {
  const bounds = PRICE_BOUNDS[rng.pick(Object.keys(PRICE_BOUNDS) as (keyof typeof PRICE_BOUNDS)[])];
  const price = () => {
    const p = rng.magnitude(4, 9);
    return p > BigInt(bounds.maxPer1k) ? BigInt(bounds.maxPer1k) : p;
  };
  const promptPer1k = price();
  const completionPer1k = price();
  const promptTokens = rng.int(0, 4000);
  const maxTokens = rng.int(1, 2000);
  const hold = jobCost({ promptTokens, completionTokens: maxTokens, promptPer1k, completionPer1k });
  return { promptTokens, maxTokens, promptPer1k, completionPer1k, hold };
}

type End = "completed" | "cancelled" | "failed" | "retried" | "deferred" | "stale";

const PLAIN_ENDS: [End, number][] = [
  ["completed", 30],
  ["cancelled", 12],
  ["failed", 12],
  ["retried", 10],
  ["deferred", 26],
  ["stale", 13],
];
/** A lease job has no hold row of its own to go stale: its lease is swept instead. */
const LEASE_ENDS: [End, number][] = [
  ["completed", 30],
  ["cancelled", 12],
  ["failed", 12],
  ["retried", 10],
  ["deferred", 30],
];

/** How a reserved job ends: its row and settlement (a lease job's carries its share). */
function endedJob(
  run: Run,
  key: { id: bigint; owner: string },
  jobId: string,
  hold: bigint,
  p: Priced,
  ends: [End, number][],
  lease?: Lease,
): { open: OpenJob; end: End } {
  const { rng } = run;
  const operator = rng.pick(run.operators);
  const feeBps = rng.pick([0, 1, 250, 1000, 1000, 1000, 1234, 3333, 9999, 10_000]);
  const end = rng.weighted<End>(ends);
  let status: JobStatus = "completed";
  let completionTokens = rng.chance(0.15)
    ? rng.int(p.maxTokens + 1, 2 * p.maxTokens + 1)
    : rng.int(0, p.maxTokens);
  let billedPrompt = p.promptTokens;
  if (end === "cancelled") {
    status = "cancelled";
    completionTokens = rng.int(1, p.maxTokens);
  } else if (end === "failed") {
    status = "failed";
    completionTokens = 0;
    billedPrompt = 0;
  }
  const prices = end === "failed"
    ? { promptPer1k: 0n, completionPer1k: 0n }
    : { promptPer1k: p.promptPer1k, completionPer1k: p.completionPer1k };
  const cost = jobCost({ promptTokens: billedPrompt, completionTokens, ...prices });
  // As the job run does: the node is credited only when there is something to charge.
  const node = cost > 0n ? operator : null;
  const settlement: Settlement = {
    jobId,
    nodePubkey: node,
    promptTokens: billedPrompt,
    completionTokens,
    ...prices,
    feeBps,
    cost,
    ...(lease ? { lease: { id: lease.id, apiKeyId: key.id, hold } } : {}),
  };
  const open: OpenJob = {
    row: jobRow(jobId, key.id, status, node, billedPrompt, completionTokens),
    settlement,
    owner: key.owner,
    reserved: hold,
    ...(lease ? { lease } : {}),
  };
  return { open, end };
}

/** Settles an ended job now (and retries it), defers it to the next flush, or leaves it stale. */
async function finishJob(run: Run, open: OpenJob, end: End): Promise<void> {
  const { sql, model } = run;
  if (end === "deferred") {
    run.pending.push(open);
  } else if (end === "stale") {
    await sql`update job_charges set reserved_at = now() - interval '1 hour' where job_id = ${open.row.id}`;
    run.stale.push(open);
  } else {
    await settleFresh(run, [open]);
    if (end === "retried") {
      const retry = altered(run, open);
      assert.deepEqual(
        await recordBatch(sql, [retry.row], [retry.settlement]),
        [],
        "a retried settle charged",
      );
      model.took(open.lease ? "retried settle of a lease job" : "retried settle");
    }
  }
}

async function job(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const key = rng.pick(run.keys);
  const jobId = nextId(run, "job");
  const priced = pricedJob(rng);
  const available = model.balance("consumer_balance", key.owner);
  let hold = priced.hold;
  const shape = rng.int(0, 9);
  if (shape === 0) hold = available + rng.big(1n, 1000n);
  if (shape === 1 && available > 0n) hold = available;

  const before = await keyAccounts(sql, key.owner);
  const reserved = await reserveJob(sql, { jobId, apiKeyId: key.id, amount: hold });
  if (hold > available) {
    assert.deepEqual(reserved, { ok: false, available }, `reserve ${hold} of ${available}`);
    assert.deepEqual(await keyAccounts(sql, key.owner), before, "a refused reservation moved money");
    assert.equal(await findJobCharge(sql, jobId), null, "a refused reservation left a charge row");
    model.took("reservation refused");
    return;
  }
  assert.deepEqual(reserved, { ok: true }, `reserve ${hold} of ${available}`);
  model.move("consumer_balance", key.owner, -hold);
  model.move("consumer_holds", key.owner, hold);
  if (hold === available) model.took("whole balance held");
  if (rng.chance(0.1)) {
    model.took("job reserved twice");
    // The same job reserved again (a retried request): it must not hold twice.
    const again = await reserveJob(sql, { jobId, apiKeyId: key.id, amount: 1n }).catch(() => null);
    assert.ok(again === null || !again.ok, "a job was reserved twice");
  }
  const { open, end } = endedJob(run, key, jobId, hold, priced, PLAIN_ENDS);
  await finishJob(run, open, end);
}

/**
 * A job reserved in memory against the key's lease on one instance, as web/billing/leases.ts
 * does: from the lease's free part when it covers the hold, else after a top-up of at least the
 * shortfall (refused when the balance cannot cover it: then no job). Never beyond what is free.
 */
async function leaseJob(run: Run): Promise<void> {
  const { rng, model } = run;
  const key = rng.pick(run.keys);
  const lease = leaseOf(run, key, rng.pick(run.instances));
  const jobId = nextId(run, "job");
  const priced = pricedJob(rng);
  const balance = model.balance("consumer_balance", key.owner);
  let hold = priced.hold;
  const shape = rng.int(0, 9);
  if (shape === 0) hold = lease.free + balance + rng.big(1n, 1000n);
  if (shape === 1 && lease.free + balance > 0n) hold = lease.free + balance;
  if (shape >= 7 && lease.free > 0n) hold = rng.big(1n, lease.free);
  if (hold > lease.free) {
    const need = hold - lease.free;
    let want = need + hold * BigInt(rng.int(0, 8));
    if (rng.chance(0.25)) want = need;
    if (rng.chance(0.2) && balance >= need) want = balance + rng.big(1n, 1000n);
    const got = await take(run, lease, need, want);
    if (!got.ok) return;
    model.took("lease share after a top-up");
  } else {
    model.took("lease share from its free part");
  }
  assert.ok(hold <= lease.free, "a share beyond what the lease has free");
  lease.free -= hold;
  const { open, end } = endedJob(run, key, jobId, hold, priced, LEASE_ENDS, lease);
  await finishJob(run, open, end);
}

/** A top-up on its own (an instance refilling a busy lease): full, partial, refused, repeated. */
async function leaseTopUp(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const funded = openLeases(run).filter((l) => model.balance("consumer_balance", l.key.owner) > 0n);
  if (funded.length > 0 && rng.chance(0.25)) {
    // A top-up sent again under the same sequence number (a retried request whose answer was
    // lost): refused, never taken twice, though the balance would cover it.
    const lease = rng.pick(funded);
    const need = rng.big(1n, model.balance("consumer_balance", lease.key.owner));
    await assert.rejects(
      takeLease(sql, {
        leaseId: lease.id,
        apiKeyId: lease.key.id,
        instance: lease.instance,
        seq: lease.lastTakenSeq,
        need,
        want: need,
      }),
      /repeated/,
    );
    model.took("lease top-up seq repeated");
    return;
  }
  const key = rng.pick(run.keys);
  const lease = leaseOf(run, key, rng.pick(run.instances));
  const balance = model.balance("consumer_balance", key.owner);
  let need: bigint;
  let want: bigint;
  switch (rng.int(0, 3)) {
    case 0: // refused: more than the balance
      need = balance + rng.big(1n, 1000n);
      want = need + rng.big(0n, 1000n);
      break;
    case 1: // partial: the balance is between need and want
      need = balance > 0n ? rng.big(1n, balance) : 1n;
      want = balance + rng.big(1n, 10n ** 9n);
      break;
    default: // full
      want = balance > 0n ? rng.big(1n, balance) : 1n;
      need = rng.big(1n, want);
  }
  await take(run, lease, need, want);
}

/** An instance returns a lease (idle, or shutting down): what is left goes back to the balance. */
async function leaseRelease(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const open = openLeases(run);
  let lease: Lease;
  if (open.length > 0 && rng.chance(0.7)) {
    lease = rng.pick(open);
  } else {
    // One taken and given back unused.
    const key = rng.pick(run.keys);
    const balance = model.balance("consumer_balance", key.owner);
    if (balance === 0n) return;
    lease = leaseOf(run, key, rng.pick(run.instances));
    const got = await take(run, lease, 1n, rng.big(1n, balance));
    assert.ok(got.ok);
  }
  const held = lease.held;
  assert.equal(await releaseLease(sql, lease.id), held, `release ${lease.id}`);
  model.took(lease.jobsSettled > 0 ? "lease released after settling jobs" : "lease released unused");
  modelRelease(model, lease);
  if (rng.chance(0.4)) {
    assert.equal(await releaseLease(sql, lease.id), 0n, "released twice");
    model.took("lease released twice");
  }
  const balance = model.balance("consumer_balance", lease.key.owner);
  if (balance > 0n && rng.chance(0.5)) {
    // A top-up of a released lease (an instance that did not know): refused, nothing moves.
    await assert.rejects(
      takeLease(sql, {
        leaseId: lease.id,
        apiKeyId: lease.key.id,
        instance: lease.instance,
        seq: ++lease.seq,
        need: 1n,
        want: balance,
      }),
      /already released/,
    );
    model.took("top-up of a released lease refused");
  }
}

/**
 * One instance dies: its leases stop being renewed (backdated), with jobs still in flight on
 * them; maybe another instance renews its own backdated lease in time. The sweep returns exactly
 * the dead instance's leases; the jobs in flight settle later (now, or in a later flush) and move
 * no money.
 */
async function leaseSweep(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const dead = rng.pick(run.instances);
  const open = openLeases(run);
  const dying = open.filter((l) => l.instance === dead);
  const living = open.filter((l) => l.instance !== dead);
  for (const lease of dying) {
    // A job in flight on the dying instance (its share set aside in memory only).
    if (lease.free === 0n || !rng.chance(0.7)) continue;
    const priced = pricedJob(rng);
    const hold = rng.big(1n, lease.free);
    lease.free -= hold;
    const ends: [End, number][] = [["completed", 2], ["cancelled", 1], ["failed", 1]];
    run.pending.push(endedJob(run, lease.key, nextId(run, "job"), hold, priced, ends, lease).open);
  }
  const backdated = dying.map((l) => l.id);
  const renewed = living.length > 0 && rng.chance(0.6) ? rng.pick(living) : null;
  if (renewed) backdated.push(renewed.id);
  await sql`update balance_leases set renewed_at = now() - interval '1 hour' where id = any(${backdated}::text[])`;
  if (renewed) {
    const ofInstance = living.filter((l) => l.instance === renewed.instance).length;
    assert.equal(await renewLeases(sql, renewed.instance), ofInstance, "leases renewed");
    model.took("renewed lease survives the sweep");
  }
  assert.equal(await releaseStaleLeases(sql, STALE_AFTER_MS), dying.length, "stale leases released");
  for (const lease of dying) {
    modelRelease(model, lease);
    lease.swept = true;
    model.took("stale lease swept");
  }
  if (rng.chance(0.5)) {
    await flush(run);
    // Just after the jobs of the dead instance settled (and were not charged).
    await checkReconcile(sql, model, run.stale);
  }
}

/** The recorder's flush: several ended jobs (and maybe retries of settled ones) in one transaction. */
async function flush(run: Run): Promise<void> {
  const { rng } = run;
  const jobs = run.pending.splice(0, run.pending.length);
  const retries: OpenJob[] = [];
  if (run.settled.length > 0 && rng.chance(0.3)) retries.push(altered(run, rng.pick(run.settled)));
  await settleFresh(run, jobs, retries);
}

/** The stale-hold sweep: every backdated hold goes back whole; fresh holds stay. */
async function releaseStale(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const released = await releaseStaleHolds(sql, STALE_AFTER_MS);
  assert.equal(released, run.stale.length, "holds released");
  for (const job of run.stale) {
    modelSettle(model, {
      ...expectedCharge(job),
      nodePubkey: null,
      charged: 0n,
      operatorShare: 0n,
      platformFee: 0n,
    });
    const charge = await findJobCharge(sql, job.settlement.jobId);
    assert.ok(charge?.settled && charge.charged === 0n, `released ${job.settlement.jobId}`);
    model.took("stale hold released");
    // The job's real settlement arriving after the sweep is skipped: the hold is gone.
    if (rng.chance(0.5)) {
      const late = altered(run, job, "timeout");
      assert.deepEqual(await recordBatch(sql, [late.row], [late.settlement]), [], "a late settle charged");
      model.took("settle after the sweep");
    }
  }
  run.stale = [];
}

async function payout(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const operator = rng.pick(run.operators);
  const earned = model.balance("operator_earnings", operator);
  const minAmount = rng.pick([1n, 1_000n, 1_000_000n]);
  let amount: bigint;
  switch (rng.int(0, 7)) {
    case 0:
      amount = earned;
      break;
    case 1:
      amount = earned + rng.big(1n, 1000n);
      break;
    case 2:
      amount = rng.big(0n, minAmount - 1n);
      break;
    default:
      amount = earned >= minAmount ? rng.big(minAmount, earned) : minAmount;
  }
  const request = () =>
    createPayout(sql, {
      nodePubkey: operator,
      coin: "BTC",
      address: "bc1q",
      amount,
      minAmount,
      usdPerUnit: null,
      cryptoAmount: null,
      automatic: false,
    });
  const refusal = amount < minAmount || amount <= 0n
    ? "below_minimum"
    : amount > earned
    ? "insufficient_funds"
    : null;
  if (refusal) {
    const [{ n: before }] = await sql<{ n: bigint }[]>`select count(*) as n from payouts`;
    await assert.rejects(request, (err) => err instanceof PayoutError && err.code === refusal);
    const [{ n: after }] = await sql<{ n: bigint }[]>`select count(*) as n from payouts`;
    assert.equal(after, before, "a refused payout left a row");
    model.took(`payout ${refusal}`);
    return;
  }
  const created = await request();
  assert.equal(created.amount, amount);
  model.move("operator_earnings", operator, -amount);
  model.move("payouts_in_flight", "", amount);
  const open = { id: created.id, operator, amount };
  if (rng.chance(0.3)) run.openPayouts.push(open);
  else await finishPayout(run, open);
}

async function finishPayout(run: Run, p: OpenPayout): Promise<void> {
  const { sql, rng, model } = run;
  if (rng.chance(0.3)) {
    assert.equal((await markPayoutSent(sql, p.id, { processorPayoutId: "po" })).status, "sent");
  }
  const tries = rng.chance(0.25) ? 2 : 1;
  if (rng.chance(0.6)) {
    for (let i = 0; i < tries; i++) {
      assert.equal((await markPayoutCompleted(sql, p.id, { txHash: "tx" })).status, "completed");
    }
    if (rng.chance(0.2)) {
      await assert.rejects(
        () => failPayout(sql, p.id, "late"),
        (e) => (e as PayoutError).code === "already_finished",
      );
    }
    model.move("payouts_in_flight", "", -p.amount);
    model.move("processor_clearing", "", p.amount);
    model.payoutsCompleted += p.amount;
    model.took("payout completed");
  } else {
    for (let i = 0; i < tries; i++) assert.equal((await failPayout(sql, p.id, "refused")).status, "failed");
    if (rng.chance(0.2)) {
      await assert.rejects(
        () => markPayoutCompleted(sql, p.id, { txHash: "tx" }),
        (e) => (e as PayoutError).code === "already_finished",
      );
    }
    model.move("payouts_in_flight", "", -p.amount);
    model.move("operator_earnings", p.operator, p.amount);
    model.took("payout failed");
  }
}

async function finishPayouts(run: Run): Promise<void> {
  for (const p of run.openPayouts.splice(0, run.openPayouts.length)) await finishPayout(run, p);
}

/** A job that reserved `reserved` and ended as completed with these numbers (for the races). */
function completedJob(key: { id: bigint; owner: string }, jobId: string, reserved: bigint, shape: {
  operator: string;
  tokens: number;
  per1k: bigint;
  feeBps: number;
}): OpenJob {
  const cost = jobCost({
    promptTokens: shape.tokens,
    completionTokens: shape.tokens,
    promptPer1k: shape.per1k,
    completionPer1k: shape.per1k,
  });
  const node = cost > 0n ? shape.operator : null;
  return {
    row: jobRow(jobId, key.id, "completed", node, shape.tokens, shape.tokens),
    settlement: {
      jobId,
      nodePubkey: node,
      promptTokens: shape.tokens,
      completionTokens: shape.tokens,
      promptPer1k: shape.per1k,
      completionPer1k: shape.per1k,
      feeBps: shape.feeBps,
      cost,
    },
    owner: key.owner,
    reserved,
  };
}

/**
 * Requests at once (truly concurrent on PostgreSQL, serialised by PGlite). Each race is built so
 * that its money outcome does not depend on who wins, so the model and the seed stay exact.
 */
async function race(run: Run): Promise<void> {
  const { sql, rng, model } = run;
  const shape = {
    operator: rng.pick(run.operators),
    tokens: rng.int(0, 500),
    per1k: rng.magnitude(4, 7),
    feeBps: rng.pick([0, 1000, 1234]),
  };
  const n = rng.int(2, 6);
  switch (rng.int(0, 4)) {
    case 0: {
      // Equal reservations on one key: exactly min(n, balance / hold) are held, never more.
      const key = rng.pick(run.keys);
      const available = model.balance("consumer_balance", key.owner);
      const divided = available / BigInt(rng.int(1, n + 1)) + rng.big(0n, 1n);
      const hold = divided > 0n ? divided : 1n;
      const ids = Array.from({ length: n }, () => nextId(run, "job"));
      const results = await Promise.all(
        ids.map((jobId) => reserveJob(sql, { jobId, apiKeyId: key.id, amount: hold })),
      );
      const won = ids.filter((_, i) => results[i].ok);
      const fits = available / hold;
      assert.equal(BigInt(won.length), fits < BigInt(n) ? fits : BigInt(n), `${n} racing holds of ${hold}`);
      for (const r of results) if (!r.ok) assert.ok(r.available < hold, "refused though it fitted");
      const total = hold * BigInt(won.length);
      model.move("consumer_balance", key.owner, -total);
      model.move("consumer_holds", key.owner, total);
      if (won.length < n) model.took("racing reservations refused");
      await settleFresh(run, won.map((id) => completedJob(key, id, hold, shape)));
      break;
    }
    case 1: {
      // Equal payouts for one operator: exactly min(n, earnings / amount) are created.
      const operator = shape.operator;
      const earned = model.balance("operator_earnings", operator);
      const divided = earned / BigInt(rng.int(1, n + 1)) + rng.big(0n, 1n);
      const amount = divided > 0n ? divided : 1n;
      const results = await Promise.allSettled(
        Array.from({ length: n }, () =>
          createPayout(sql, {
            nodePubkey: operator,
            coin: "BTC",
            address: "bc1q",
            amount,
            minAmount: 1n,
            usdPerUnit: null,
            cryptoAmount: null,
            automatic: false,
          })),
      );
      const created = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(
            r.reason instanceof PayoutError && r.reason.code === "insufficient_funds",
            String(r.reason),
          );
        }
      }
      const fits = earned / amount;
      assert.equal(
        BigInt(created.length),
        fits < BigInt(n) ? fits : BigInt(n),
        `${n} racing payouts of ${amount}`,
      );
      if (created.length < n) model.took("racing payouts refused");
      model.move("operator_earnings", operator, -amount * BigInt(created.length));
      model.move("payouts_in_flight", "", amount * BigInt(created.length));
      created.sort((a, b) => a.id < b.id ? -1 : 1);
      for (const p of created) await finishPayout(run, { id: p.id, operator, amount });
      break;
    }
    case 2: {
      // Takes of one key's balance from several instances' new leases at once, all asking the same
      // need..want: however they interleave, as many are served as a one-by-one run would serve,
      // their total never above the balance. The racers then go idle and give their leases back,
      // so what follows does not depend on which of them won what.
      const key = rng.pick(run.keys);
      const balance = model.balance("consumer_balance", key.owner);
      const divided = balance / BigInt(rng.int(1, n)) + rng.big(0n, 1n);
      const want = divided > 0n ? divided : 1n;
      const half = want / BigInt(rng.int(1, 3));
      const need = half > 0n ? half : 1n;
      const leases = Array.from({ length: n }, () => leaseOf(run, key, `${run.prefix}racer${run.counter}`));
      const seqs = leases.map((l) => ++l.seq);
      const results = await Promise.all(
        leases.map((l, i) =>
          takeLease(sql, { leaseId: l.id, apiKeyId: key.id, instance: l.instance, seq: seqs[i], need, want })
        ),
      );
      let left = balance;
      let served = 0;
      for (let i = 0; i < n; i++) {
        if (left < need) continue;
        left -= left < want ? left : want;
        served++;
      }
      const taken = results.reduce((sum, r) => sum + (r.ok ? r.taken : 0n), 0n);
      assert.ok(taken <= balance, `racing takes of ${need}..${want} took ${taken} of ${balance}`);
      assert.equal(taken, balance - left, `racing takes of ${need}..${want} from ${balance}`);
      assert.equal(results.filter((r) => r.ok).length, served, "racing takes served");
      results.forEach((r, i) => {
        if (r.ok) {
          assert.ok(r.taken >= need && r.taken <= want, `a racing take got ${r.taken}`);
          modelTake(model, leases[i], r.taken);
        } else {
          assert.ok(r.available < need, "a racing take refused though the balance covered it");
        }
      });
      model.took("racing lease takes");
      if (served < n) model.took("racing lease takes refused");
      await checkAccounts(sql, model);
      await checkLeases(run);
      for (const lease of leases) {
        if (!model.leases.has(lease.id)) continue;
        assert.equal(await releaseLease(sql, lease.id), lease.held, `release racer ${lease.id}`);
        modelRelease(model, lease);
      }
      break;
    }
    case 3: {
      // A lease topped up while a batch of its jobs settles: neither waits on the other's money
      // (the top-up moves balance → holds, the settlement holds → operator and platform).
      const key = rng.pick(run.keys);
      const lease = leaseOf(run, key, rng.pick(run.instances));
      if (lease.free === 0n) {
        const balance = model.balance("consumer_balance", key.owner);
        if (balance === 0n) return;
        assert.ok((await take(run, lease, 1n, rng.big(1n, balance))).ok);
      }
      const jobs: OpenJob[] = [];
      for (let i = 0; i < n && lease.free > 0n; i++) {
        const hold = rng.big(1n, lease.free);
        lease.free -= hold;
        const job = completedJob(key, nextId(run, "job"), hold, { ...shape, tokens: rng.int(0, 500) });
        job.lease = lease;
        job.settlement.lease = { id: lease.id, apiKeyId: key.id, hold };
        jobs.push(job);
      }
      const balance = model.balance("consumer_balance", key.owner);
      const need = balance > 0n && rng.chance(0.8) ? rng.big(1n, balance) : balance + 1n;
      const want = need + rng.big(0n, balance);
      const seq = ++lease.seq;
      const [topUp, got] = await Promise.all([
        takeLease(sql, { leaseId: lease.id, apiKeyId: key.id, instance: lease.instance, seq, need, want }),
        recordBatch(sql, jobs.map((j) => j.row), jobs.map((j) => j.settlement)),
      ]);
      const expected = applySettled(run, jobs);
      const byId = (a: SettledCharge, b: SettledCharge) => a.jobId < b.jobId ? -1 : 1;
      assert.deepEqual(got.sort(byId), expected.sort(byId), "a settlement racing a top-up");
      if (balance < need) {
        assert.deepEqual(topUp, { ok: false, available: balance }, "a top-up racing a settlement");
      } else {
        const taken = balance < want ? balance : want;
        assert.deepEqual(topUp, { ok: true, taken }, "a top-up racing a settlement");
        modelTake(model, lease, taken);
      }
      model.took("top-up racing a settlement");
      break;
    }
    default: {
      // Jobs reserved one by one (some against leases), then settled by concurrent flushes; one
      // job in both of them.
      const jobs: OpenJob[] = [];
      for (let i = 0; i < n; i++) {
        const key = rng.pick(run.keys);
        const lease = rng.chance(i === 0 ? 0.7 : 0.4) ? leaseOf(run, key, rng.pick(run.instances)) : null;
        if (lease && lease.free > 0n) {
          const hold = rng.big(1n, lease.free);
          lease.free -= hold;
          const job = completedJob(key, nextId(run, "job"), hold, shape);
          job.lease = lease;
          job.settlement.lease = { id: lease.id, apiKeyId: key.id, hold };
          jobs.push(job);
          continue;
        }
        const available = model.balance("consumer_balance", key.owner);
        if (available === 0n) continue;
        const hold = rng.big(1n, available);
        const jobId = nextId(run, "job");
        assert.deepEqual(await reserveJob(sql, { jobId, apiKeyId: key.id, amount: hold }), { ok: true });
        model.move("consumer_balance", key.owner, -hold);
        model.move("consumer_holds", key.owner, hold);
        jobs.push(completedJob(key, jobId, hold, shape));
      }
      if (jobs.length === 0) return;
      const half = Math.ceil(jobs.length / 2);
      const batches = [jobs.slice(0, half), [...jobs.slice(half), jobs[0]]];
      const got = (await Promise.all(
        batches.map((b) => recordBatch(sql, b.map((j) => j.row), b.map((j) => j.settlement))),
      )).flat();
      const byId = (a: SettledCharge, b: SettledCharge) => a.jobId < b.jobId ? -1 : 1;
      const expected = applySettled(run, jobs);
      assert.deepEqual(got.sort(byId), expected.sort(byId), "concurrent flushes settled each job once");
      model.took("concurrent flushes");
      if (jobs[0].lease) model.took("lease job in two concurrent flushes");
    }
  }
}

// ---- checks ----

/**
 * Every lease row equals the model (held, released), and for each open lease what it holds is
 * what is free plus the shares of its jobs still in flight (the instance's count adds up).
 */
async function checkLeases(run: Run): Promise<void> {
  const { sql, model } = run;
  const rows = await sql<{ id: string; held: bigint; released: boolean }[]>`
    select id, held, released_at is not null as released from balance_leases`;
  assert.equal(rows.length, model.leases.size, "lease rows");
  for (const r of rows) {
    const lease = model.leases.get(r.id);
    assert.ok(lease, `lease ${r.id} is not in the model`);
    assert.deepEqual(
      { held: r.held, released: r.released },
      { held: lease.held, released: lease.released },
      r.id,
    );
    if (lease.released) continue;
    const inFlight = run.pending.filter((j) => j.lease === lease).reduce((s, j) => s + j.reserved, 0n);
    assert.equal(lease.held, lease.free + inFlight, `lease ${r.id}: held = free + shares in flight`);
  }
}

/** Every account equals the model, and none but processor clearing is negative. */
async function checkAccounts(sql: Sql, model: Model): Promise<void> {
  const rows = await sql<{ kind: string; owner: string; balance: bigint }[]>`
    select kind, owner, balance from accounts`;
  const seen = new Set<string>();
  for (const r of rows) {
    seen.add(`${r.kind}|${r.owner}`);
    assert.equal(r.balance, model.balance(r.kind, r.owner), `${r.kind} ${r.owner}`);
    if (r.kind !== "processor_clearing") assert.ok(r.balance >= 0n, `${r.kind} ${r.owner} is negative`);
  }
  for (const [account, balance] of model.accounts) {
    assert.ok(seen.has(account) || balance === 0n, `${account} is missing (model: ${balance})`);
  }
}

/**
 * `reconcile` finds exactly what the model expects: completed jobs of released leases, and (mid-
 * sequence) the holds backdated for the stale-hold sweep, each reported as stuck; nothing else.
 */
async function checkReconcile(sql: Sql, model: Model, stale: OpenJob[] = []): Promise<void> {
  const order = (a: Discrepancy, b: Discrepancy) =>
    a.check + a.detail < b.check + b.detail ? -1 : a.check + a.detail > b.check + b.detail ? 1 : 0;
  const stuck = "a hold has stayed open longer than any job may run";
  const found = await reconcile(sql);
  const stuckIds = found.filter((d) => d.check === stuck).map((d) => d.detail.split(" ")[0]).sort();
  assert.deepEqual(stuckIds, stale.map((j) => `job_id=${j.row.id}`).sort(), "holds reported stuck");
  assert.deepEqual(
    found.filter((d) => d.check !== stuck).sort(order),
    [...model.findings].sort(order),
    "reconcile",
  );
}

/** The whole ledger: reconciled, balanced, every charge split exactly, no job charged twice. */
async function checkLedger(sql: Sql, model: Model): Promise<void> {
  await checkReconcile(sql, model);
  const [{ total }] = await sql<
    { total: bigint }[]
  >`select coalesce(sum(balance), 0)::int8 as total from accounts`;
  assert.equal(total, 0n, "all balances sum to zero");
  const twice = await sql`
    select job_id, count(*)::int as n from ledger_transactions where kind = 'settle'
    group by job_id having count(*) > 1`;
  assert.deepEqual([...twice], [], "a job was settled twice");
  const [c] = await sql<
    {
      reserved: bigint;
      plain_charged: bigint;
      lease_charged: bigint;
      charged: bigint;
      shares: bigint;
      fees: bigint;
      open: bigint;
    }[]
  >`
    select coalesce(sum(reserved) filter (where settled_at is not null and lease_id is null), 0)::int8 as reserved,
           coalesce(sum(charged) filter (where lease_id is null), 0)::int8 as plain_charged,
           coalesce(sum(charged) filter (where lease_id is not null), 0)::int8 as lease_charged,
           coalesce(sum(charged), 0)::int8 as charged,
           coalesce(sum(operator_share), 0)::int8 as shares,
           coalesce(sum(platform_fee), 0)::int8 as fees,
           count(*) filter (where settled_at is null) as open
    from job_charges`;
  assert.equal(c.open, 0n, "holds left open at the end");
  assert.equal(c.charged, c.shares + c.fees, "charged = operator shares + fees");
  const [{ refunds }] = await sql<{ refunds: bigint }[]>`
    select coalesce(sum(p.amount), 0)::int8 as refunds from postings p
    join ledger_transactions t on t.id = p.transaction_id and t.kind = 'settle'
    join accounts a on a.id = p.account_id and a.kind = 'consumer_balance'`;
  // A plain job's hold is charged or refunded; a lease job's share is not refunded per job (what is
  // left of it stays in the lease, which returns it when released).
  assert.equal(c.reserved, c.plain_charged + refunds, "plain holds = their charges + refunds");
  const [l] = await sql<{ open: bigint; taken: bigint; returned: bigint }[]>`
    select
      (select count(*) from balance_leases where released_at is null) as open,
      (select coalesce(sum(p.amount), 0) from postings p
        join ledger_transactions t on t.id = p.transaction_id and t.kind = 'reserve'
        join balance_leases bl on bl.id = t.job_id
        join accounts a on a.id = p.account_id and a.kind = 'consumer_holds')::int8 as taken,
      (select coalesce(-sum(p.amount), 0) from postings p
        join ledger_transactions t on t.id = p.transaction_id and t.kind = 'release'
        join balance_leases bl on bl.id = t.job_id
        join accounts a on a.id = p.account_id and a.kind = 'consumer_holds')::int8 as returned`;
  assert.equal(l.open, 0n, "leases left open at the end");
  assert.equal(l.taken, c.lease_charged + l.returned, "leases: taken = charged to their jobs + returned");
  assert.deepEqual(
    {
      reserved: c.reserved,
      charged: c.charged,
      leaseCharged: c.lease_charged,
      shares: c.shares,
      fees: c.fees,
      refunds,
    },
    {
      reserved: model.reservedSettled,
      charged: model.charged,
      leaseCharged: model.leaseCharged,
      shares: model.operatorShares,
      fees: model.fees,
      refunds: model.refunds,
    },
    "charge totals against the model",
  );
  const [s] = await sql<
    { earnings: bigint; in_flight: bigint; paid: bigint; consumers: bigint; fees: bigint }[]
  >`
    select
      (select coalesce(sum(balance), 0) from accounts where kind = 'operator_earnings')::int8 as earnings,
      (select balance from accounts where kind = 'payouts_in_flight')::int8 as in_flight,
      (select coalesce(sum(amount), 0) from payouts where status = 'completed')::int8 as paid,
      (select coalesce(sum(balance), 0) from accounts where kind like 'consumer%')::int8 as consumers,
      (select balance from accounts where kind = 'platform_fees')::int8 as fees`;
  assert.equal(
    s.earnings + s.in_flight + s.paid,
    c.shares,
    "operator shares = earnings + in flight + paid out",
  );
  assert.equal(s.paid, model.payoutsCompleted, "payouts completed");
  assert.equal(s.fees, c.fees, "platform fees balance = fees charged");
  assert.equal(s.consumers + c.charged, model.depositsCredited, "deposits = consumer money + charged");
}

/** Runs one seeded sequence of `ops` operations, checking the accounts after each one. */
async function runSequence(
  sql: Sql,
  model: Model,
  seed: number,
  opts: { ops: number; races: boolean },
): Promise<void> {
  const rng = new Prng(seed);
  const prefix = `s${seed}_`;
  const run: Run = {
    sql,
    rng,
    model,
    seed,
    prefix,
    keys: [],
    operators: [],
    instances: [`${prefix}i0`, `${prefix}i1`],
    counter: 0,
    pending: [],
    stale: [],
    settled: [],
    openPayouts: [],
  };
  const step = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
      await checkAccounts(sql, model);
      await checkLeases(run);
    } catch (err) {
      throw new Error(
        `seed ${seed}, ${name} (replay: INFERNET_PROPERTY_SEED=${seed}): ${(err as Error).message}`,
        { cause: err },
      );
    }
  };
  await step("set-up", async () => {
    for (let i = 0; i < 3; i++) {
      const { row } = await createApiKey(sql, { label: `${prefix}key${i}` });
      run.keys.push({ id: row.id, owner: row.id.toString() });
      run.operators.push(Array.from({ length: 8 }, () => rng.next().toString(16).padStart(8, "0")).join(""));
    }
  });
  const operations: [string, (run: Run) => Promise<void>, number][] = [
    ["deposit", deposit, 24],
    ["job", job, 50],
    ["flush", flush, 10],
    ["payout", payout, 12],
    ["release stale holds", releaseStale, 5],
    ["finish payouts", finishPayouts, 3],
    // Which racer wins varies between runs, so the replay test leaves races out.
    ["race", race, opts.races ? 12 : 0],
    ["lease job", leaseJob, 30],
    ["lease top-up", leaseTopUp, 8],
    ["lease release", leaseRelease, 7],
    ["lease sweep", leaseSweep, 4],
  ];
  for (let i = 0; i < opts.ops; i++) {
    const [name, fn] = rng.weighted(operations.map((o) => [o, o[2]]));
    await step(`op ${i} (${name})`, () => fn(run));
  }
  await step("end (flush, sweep, payouts, leases returned)", async () => {
    await flush(run);
    await releaseStale(run);
    await finishPayouts(run);
    // The instances shut down: every lease goes back (after their settlements, as close() does).
    for (const lease of openLeases(run)) {
      assert.equal(await releaseLease(sql, lease.id), lease.held, `release ${lease.id} at shutdown`);
      modelRelease(model, lease);
    }
  });
  await step("end (whole ledger)", () => checkLedger(sql, model));
}

testOnEachDatabase(
  "ledger property - random deposits, jobs (complete, cancel, fail, retry), payouts keep every invariant",
  async (db) => {
    const model = new Model();
    for (const seed of SEEDS) await runSequence(db.sql, model, seed, { ops: OPS_PER_SEQUENCE, races: true });
    // The default seeds must take every path (a changed generator could silently skip one).
    const missed = ENV_SEED === undefined ? PATHS.filter((p) => !model.paths.has(p)) : [];
    assert.deepEqual(missed, [], `paths never taken: ${JSON.stringify(Object.fromEntries(model.paths))}`);
  },
);

/** Final balances and charges, with API keys named by label so two databases compare. */
async function snapshot(sql: Sql): Promise<unknown> {
  return {
    accounts: [
      ...await sql`
        select a.kind, coalesce(k.label, a.owner) as owner, a.balance::text from accounts a
        left join api_keys k on a.kind like 'consumer%' and k.id::text = a.owner
        order by 1, 2`,
    ],
    charges: [
      ...await sql`
        select job_id, reserved::text, charged::text, operator_share::text, platform_fee::text, node_pubkey
        from job_charges order by job_id`,
    ],
    payouts: [...await sql`select node_pubkey, amount::text, status from payouts order by id`],
    leases: [
      ...await sql`
        select id, instance, held::text, released_at is not null as released from balance_leases order by id`,
    ],
  };
}

testOnEachDatabase(
  "ledger property - the same seed replayed on a fresh database ends the same",
  async (db) => {
    const seed = SEEDS[0];
    await runSequence(db.sql, new Model(), seed, { ops: 60, races: false });
    const fresh = await openTestDatabase(db.kind);
    try {
      await runSequence(fresh.sql, new Model(), seed, { ops: 60, races: false });
      assert.deepEqual(await snapshot(fresh.sql), await snapshot(db.sql), `seed ${seed}: replay differs`);
    } finally {
      await fresh.drop();
    }
  },
);
