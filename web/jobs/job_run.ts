// One consumer request's job: its state in KV, its metering, and its row in the database.
// It ends exactly once, whichever comes first: the request, or the KV deadline that reaps it.
import type { JobRow, JobStatus, Settlement } from "../../db/mod.ts";
import {
  addGeneratedBesideContent,
  jobCost,
  type Logger,
  type TokenTexts,
  type Usage,
} from "../../shared/mod.ts";
import { createHash } from "node:crypto";
import { type BilledTokens, billedTokens } from "../billing/billed_tokens.ts";
import type { LiveNode, NodeRegistry } from "../registry/node_registry.ts";
import type { JobRecorder, Recorded } from "./job_recorder.ts";
import type { BalanceLeases, JobLease } from "../billing/leases.ts";
import type { JobStore } from "./job_store.ts";
import { countText, countTokenTexts, usageDiverges } from "../metering/count_tokens.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { ReceiptDesk } from "../receipts/receipt_desk.ts";
import { receiptFacts } from "./job_receipt.ts";

/** The longest a response waits for its settlement to be durable before it is handed over anyway. */
export const SETTLE_WAIT_MS = 5000;

const PENDING = Symbol("pending");

/**
 * Waits for a job's row and settlement to be durable (journaled, or else committed), at most
 * {@link SETTLE_WAIT_MS}: past that (a database outage with no journal) the answer goes out and
 * the write keeps retrying in the background.
 */
export async function awaitSettled(recorded: Promise<void>): Promise<void> {
  // Journaled (the usual case): already durable, so no timer to set and clear.
  if (await Promise.race([recorded, Promise.resolve(PENDING)]) !== PENDING) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([recorded, new Promise((r) => (timer = setTimeout(r, SETTLE_WAIT_MS)))]);
  clearTimeout(timer);
}

/** The parts a job run writes to. */
export interface JobRunDeps {
  jobs: JobStore;
  recorder: JobRecorder;
  registry: NodeRegistry;
  log: Logger;
  jobTimeoutMs: number;
  /** The platform fee applied at settlement, in basis points. */
  feeBps: number;
  /** The balance leases job holds are reserved against. */
  leases: BalanceLeases;
  /** Runs still in progress on this instance, by id (the reaper looks here). */
  active: Map<string, JobRun>;
  /** Job ends still being written (awaited on shutdown so no row is lost). */
  pending: Set<Promise<unknown>>;
  /** Where ended jobs and their timings are counted; absent: nowhere. */
  metrics?: Metrics;
  /** Where the job's receipt is made; absent: none is. */
  receipts?: ReceiptDesk;
}

/** What a job is, fixed at its start. */
export interface JobMeta {
  kind: "chat" | "embeddings";
  model: string;
  stream: boolean;
  apiKeyId: bigint | null;
  /**
   * Our own count of the prompt, a slice at a time so that a prompt of megabytes does not stop
   * the control plane while it is counted; it stops once past `limit`. Called at most once, and
   * dropped when called or when the job ends: the closure reaches the request it counts.
   */
  countPrompt: (limit: number) => Promise<number>;
}

/** A fresh job id: `job_` and 32 hex digits. */
export function newJobId(): string {
  return "job_" + crypto.randomUUID().replaceAll("-", "");
}

/**
 * A job in progress.
 *
 * Nothing that outlives the request may hold the run: the batched database and KV writes would
 * keep the request's whole graph alive into V8's old generation (docs/architecture.md, "Nothing
 * that outlives a request holds it"). So the writes' callbacks hold the job id, not the run, and
 * the run drops the prompt counter and the abort hook once they have served.
 */
export class JobRun {
  readonly id: string;
  readonly meta: Readonly<Omit<JobMeta, "countPrompt">>;
  #countPrompt: ((limit: number) => Promise<number>) | null;
  /** Our count of the prompt ({@link countPrompt}, before the hold); null until counted. */
  promptTokens: number | null = null;
  readonly createdAt = new Date();
  readonly #t0 = performance.now();
  #deps: JobRunDeps;
  #ended = false;
  node: LiveNode | null = null;
  attempts = 0;
  ttftMs: number | null = null;
  engineUsage: Usage | null = null;
  /** The job's share of a balance lease (its hold, nano-USD); null when nothing was reserved. */
  lease: JobLease | null = null;
  /** The serving node's prices for the model when it took the job (nano-USD per 1k tokens). */
  prices: { promptPer1k: bigint; completionPer1k: bigint } | null = null;
  /** Whether any output reached the consumer (a streamed chunk, or the answer). */
  delivered = false;
  /**
   * The artifact hash of an answer that is not chat text (embeddings: set by the handler); chat's
   * is {@link outputHash}.
   */
  artifactHash: string | null = null;
  /** The output text pieces per choice index, in arrival order; kept only until the job is metered. */
  readonly #outputs = new Map<number, string[]>();
  /** What the answer generated besides its content (reasoning, tool calls): counted, not hashed. */
  #generated: TokenTexts = { texts: [], fixed: 0 };
  /**
   * The tokens billed (and shown to the consumer as `usage`), fixed when the job ends: the same
   * value feeds the answer's `usage` and the settlement, so the two cannot drift. Null until then.
   */
  billed: BilledTokens | null = null;
  /**
   * Lower-case hex SHA-256 of the UTF-8 of {@link outputText} at the job's end (the receipt's
   * artifact hash); null until then, and when no node served the job.
   */
  outputHash: string | null = null;
  /**
   * Direct mode (web/direct/): the node ran the job where this server could not see it, so the
   * settlement rule fixes the tokens billed, the consumer's own count and the answer's hash.
   */
  direct: { billed: BilledTokens; counted: BilledTokens | null; artifactHash: string | null } | null = null;
  /** Called when the job is reaped or must stop from outside (set by the handler). */
  onAbort: ((reason: string) => void) | null = null;

  /** `opts.id`: the job's id when the caller names it (a direct job names its instance). */
  constructor(deps: JobRunDeps, meta: JobMeta, opts: { id?: string } = {}) {
    this.id = opts.id ?? newJobId();
    this.#deps = deps;
    const { countPrompt, ...fixed } = meta;
    this.meta = fixed;
    this.#countPrompt = countPrompt;
    const id = this.id;
    deps.active.set(this.id, this);
    void deps.jobs.start({
      id: this.id,
      kind: meta.kind,
      model: meta.model,
      stream: meta.stream,
      apiKeyId: meta.apiKeyId?.toString() ?? null,
      nodePubkey: null,
      status: "running",
      createdAt: this.createdAt.getTime(),
      finishedAt: null,
    }, deps.jobTimeoutMs).catch((err) => deps.log.error("job state not written", { jobId: id, err }));
  }

  /** Milliseconds since the job started. */
  elapsedMs(): number {
    return Math.round(performance.now() - this.#t0);
  }

  /** Marks the first token (or the answer) as arrived. */
  markFirstToken(): void {
    if (this.ttftMs === null) this.ttftMs = this.elapsedMs();
  }

  /**
   * Counts the prompt (once: the count before the hold) into {@link promptTokens}. Past `limit`
   * the count stops, and what it has counted by then (more than `limit`) is kept.
   */
  async countPrompt(limit = Infinity): Promise<number> {
    const count = this.#countPrompt;
    this.#countPrompt = null;
    if (count) this.promptTokens = await count(limit);
    if (this.promptTokens === null) throw new Error("the prompt is counted once, before the job ends");
    return this.promptTokens;
  }

  /** Counts the answer's Server-Timing split (ms): the control plane's own work, and the node's. */
  observeTiming(controlPlaneMs: number, nodeMs: number): void {
    this.#deps.metrics?.observeTiming(this.meta.kind, this.meta.stream, controlPlaneMs, nodeMs);
  }

  /** Appends output text to choice `index` (a streamed delta, or a whole message). */
  addOutput(index: number, text: string): void {
    const parts = this.#outputs.get(index);
    if (parts) parts.push(text);
    else this.#outputs.set(index, [text]);
  }

  /** Notes what a message or delta generated besides its content ({@link addGeneratedBesideContent}). */
  addGenerated(part: unknown): void {
    addGeneratedBesideContent(part, this.#generated);
  }

  /** The output so far: each choice's text, concatenated in ascending index order. */
  outputText(): string {
    if (this.#outputs.size === 1) return [...this.#outputs.values()][0].join("");
    const indexes = [...this.#outputs.keys()].sort((a, b) => a - b);
    return indexes.map((i) => this.#outputs.get(i)!.join("")).join("");
  }

  /** Our count of the completion so far: the content, and what was generated beside it. */
  countCompletion(): number {
    return countText(this.outputText()) + this.#countGenerated();
  }

  #countGenerated(): number {
    const g = this.#generated;
    return g.fixed === 0 && g.texts.length === 0 ? 0 : countTokenTexts(g);
  }

  /**
   * Ends the job once: KV state, node track record, metering, and the job row with its
   * settlement. Resolves when the row and settlement are durable (see {@link Recorded}), so a
   * handler that awaits it before handing over the last bytes never delivers work that a crash
   * could leave unbilled.
   */
  end(status: JobStatus, opts: { errorCode?: string | null } = {}): Promise<void> {
    if (this.#ended) return Promise.resolve();
    this.#ended = true;
    this.onAbort = null;
    this.#countPrompt = null;
    const deps = this.#deps;
    const id = this.id;
    deps.active.delete(id);
    const latencyMs = this.elapsedMs();
    const finishedAt = new Date();
    const node = this.node;
    if (node && status !== "cancelled" && status !== "rejected") {
      deps.registry.recordOutcome(node.record.pubkey, status === "completed", this.ttftMs);
    }
    // The row is written at once; if the reaper ended the job first (another instance, at its
    // deadline), whichever commits first stands: rows and settlements are written once per job.
    const recorded = this.#record(status, opts.errorCode ?? null, latencyMs, finishedAt);
    const writing = Promise.all([
      recorded.committed,
      deps.jobs.finish(id),
    ])
      .catch((err) => deps.log.error("job end not recorded", { jobId: id, err }))
      .finally(() => deps.pending.delete(writing));
    deps.pending.add(writing);
    return recorded.durable;
  }

  /** Writes the row of a job the reaper ended (timeout). */
  recordReaped(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#countPrompt = null;
    this.#deps.active.delete(this.id);
    this.onAbort?.("job timed out");
    this.onAbort = null;
    if (this.node) this.#deps.registry.recordOutcome(this.node.record.pubkey, false, null);
    void this.#record("timeout", "job_timeout", this.elapsedMs(), new Date());
  }

  #record(status: JobStatus, errorCode: string | null, latencyMs: number, finishedAt: Date): Recorded {
    const started = this.node !== null && (this.ttftMs !== null || this.engineUsage !== null);
    const direct = this.direct;
    // Every job a node got was counted before its hold; one that never reached a node is not.
    // A direct job's counts are the consumer's (it alone saw the text).
    const countedPrompt = direct
      ? direct.counted?.prompt ?? null
      : started || status === "completed"
      ? this.promptTokens
      : null;
    const output = this.outputText();
    const countedCompletion = direct
      ? direct.counted?.completion ?? null
      : started
      ? countText(output) + this.#countGenerated()
      : null;
    // Native SHA-256 (as db/api_keys.ts): ~9x @noble/hashes' on this path (docs/architecture.md).
    if (this.node !== null) {
      this.outputHash = direct
        ? direct.artifactHash
        : createHash("sha256").update(output, "utf8").digest("hex");
    }
    this.#outputs.clear();
    this.#generated = { texts: [], fixed: 0 };
    const usage = this.engineUsage;
    const delivered = this.delivered && this.node !== null && this.prices !== null;
    const billed = direct ? (delivered ? direct.billed : { prompt: 0, completion: 0 }) : billedTokens({
      status,
      delivered,
      engineUsage: usage,
      countedPrompt: countedPrompt ?? 0,
      countedCompletion: countedCompletion ?? 0,
    });
    this.billed = billed;
    if (usage && countedPrompt !== null && usageDiverges(usage.prompt_tokens, countedPrompt)) {
      this.#deps.log.warn("engine prompt usage diverges from our count", {
        jobId: this.id,
        node: this.node?.record.pubkey,
        engine: usage.prompt_tokens,
        ours: countedPrompt,
      });
    }
    const row: JobRow = {
      id: this.id,
      apiKeyId: this.meta.apiKeyId,
      kind: this.meta.kind,
      model: this.meta.model,
      nodePubkey: this.node?.record.pubkey ?? null,
      stream: this.meta.stream,
      status,
      attempts: this.attempts,
      errorCode,
      enginePromptTokens: usage?.prompt_tokens ?? null,
      engineCompletionTokens: usage ? usage.completion_tokens : null,
      countedPromptTokens: countedPrompt,
      countedCompletionTokens: countedCompletion,
      // What the consumer was shown and billed; for work never delivered, what the node did.
      promptTokens: delivered ? billed.prompt : usage?.prompt_tokens ?? countedPrompt ?? 0,
      completionTokens: delivered ? billed.completion : usage?.completion_tokens ?? countedCompletion ?? 0,
      ttftMs: this.ttftMs,
      latencyMs,
      createdAt: this.createdAt,
      finishedAt,
    };
    this.#deps.metrics?.observeJob(row);
    const settlement = this.#settlement(billed);
    const recorded = this.#deps.recorder.record(row, settlement);
    if (this.node && this.#deps.receipts) {
      this.#deps.receipts.attemptEnded(receiptFacts(this, row, settlement));
    }
    const lease = this.lease;
    if (lease && settlement) {
      // Once the charge is durable, the unused part of the job's share is free for the next jobs,
      // even while the database is slow; the lease stays open until the charge is committed.
      // (A settlement's cost is 0 when no node is credited; the lease caps it at the share.)
      const leases = this.#deps.leases;
      void recorded.durable.then(() => leases.charged(lease, settlement.cost));
      void recorded.committed.then(() => leases.committed(lease));
    }
    return recorded;
  }

  /** The job's settlement for the `tokens` billed, when money was held for it. */
  #settlement(tokens: BilledTokens): Settlement | null {
    if (this.lease === null) return null;
    const prices = this.prices ?? { promptPer1k: 0n, completionPer1k: 0n };
    const cost = jobCost({
      promptTokens: tokens.prompt,
      completionTokens: tokens.completion,
      promptPer1k: prices.promptPer1k,
      completionPer1k: prices.completionPer1k,
    });
    return {
      jobId: this.id,
      nodePubkey: cost > 0n ? this.node!.record.pubkey : null,
      promptTokens: tokens.prompt,
      completionTokens: tokens.completion,
      promptPer1k: prices.promptPer1k,
      completionPer1k: prices.completionPer1k,
      feeBps: this.#deps.feeBps,
      cost,
      lease: this.lease,
    };
  }
}
