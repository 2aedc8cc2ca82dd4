// Direct-mode jobs in progress on this instance (docs/protocol.md §14): from the tickets of
// `POST /v1/route` to their settlement on the node's receipt and the consumer's usage ack. A
// direct job is a JobRun whose stages stop after the hold; its end comes from here, so its row,
// settlement, lease and platform receipt go the way of every gateway job's.
import type { Logger, VerifiedNodeReceipt } from "../../shared/mod.ts";
import type { UsageAckContent, VerifiedUsageAck } from "../../shared/direct/acks.ts";
import type { JobRun } from "../jobs/job_run.ts";
import type { NodeRegistry } from "../registry/node_registry.ts";
import type { ReceiptDesk } from "../receipts/receipt_desk.ts";
import { modelPrices } from "../router/select_nodes.ts";
import { settleDirect } from "./settle_rule.ts";

/** What a direct job was issued with. */
export interface DirectJobTerms {
  apiKeyId: bigint;
  /** The consumer's one-off key (hex): only it may acknowledge the usage. */
  consumer: string;
  /** The nodes holding a ticket for the job (hex). */
  candidates: string[];
  /** The ticket's prompt_tokens and max_tokens. */
  promptTokens: number;
  maxTokens: number;
}

interface DirectJob extends DirectJobTerms {
  run: JobRun;
  /** The node receipts accepted for the job, by candidate (a refused answer's node signs one too). */
  receipts: Map<string, VerifiedNodeReceipt>;
  ack: UsageAckContent | null;
  timer: ReturnType<typeof setTimeout> | null;
}

/** Why an ack was refused, with its HTTP status. */
export type AckRefusal =
  | { status: 404; code: "job_not_found"; message: string }
  | { status: 403; code: "ack_foreign"; message: string }
  | { status: 409; code: "ack_replayed"; message: string }
  | { status: 400; code: "ack_invalid"; message: string };

/** Options of {@link DirectJobs}. */
export interface DirectJobsOptions {
  registry: NodeRegistry;
  receipts: ReceiptDesk;
  log: Logger;
  /** How long the one of receipt and ack that came first waits for the other. */
  ackWaitMs: number;
  /**
   * The job timeout (the reaper's deadline, from routing): the wait ends a second before it, so a
   * long job's receipt is settled rather than reaped unbilled. Absent: no such bound.
   */
  jobTimeoutMs?: number;
}

/** How long before the reaper's deadline a waiting job is settled on what it has. */
const DEADLINE_MARGIN_MS = 1000;

/**
 * Ended jobs remembered for the acks that come after (a retry whose first answer was lost, or an
 * ack later than the wait): the oldest is forgotten past this many (~100 bytes each).
 */
export const ENDED_JOBS_KEPT = 10_000;

/** What an ended job's late or repeated ack is checked against. */
interface EndedJob {
  apiKeyId: bigint;
  consumer: string;
  acked: boolean;
}

/** The direct jobs of this instance, by id. */
export class DirectJobs {
  #jobs = new Map<string, DirectJob>();
  /** Ended jobs, oldest first, at most ENDED_JOBS_KEPT. */
  #ended = new Map<string, EndedJob>();
  #opts: DirectJobsOptions;

  constructor(opts: DirectJobsOptions) {
    this.#opts = opts;
  }

  /** Jobs waiting for their settlement. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Starts tracking a job whose tickets were issued; a reaped job is forgotten with its candidates. */
  open(run: JobRun, terms: DirectJobTerms): void {
    const job: DirectJob = { ...terms, run, receipts: new Map(), ack: null, timer: null };
    this.#jobs.set(run.id, job);
    run.onAbort = () => this.#drop(job, null);
  }

  /** A job's terms (the relay checks its key and candidates); null when unknown here. */
  terms(jobId: string): Readonly<DirectJobTerms> | null {
    return this.#jobs.get(jobId) ?? null;
  }

  /**
   * A node receipt the desk accepted: a direct job settles on it once the consumer's ack names
   * its node (or the wait is over). Each candidate's is kept: the consumer may have refused one.
   */
  nodeReceipt(node: string, receipt: VerifiedNodeReceipt): void {
    const job = this.#jobs.get(receipt.content.task_id);
    if (!job || job.receipts.has(node) || !job.candidates.includes(node)) return;
    job.receipts.set(node, receipt);
    if (job.ack && job.ack.node === node) return this.#settle(job);
    this.#wait(job);
  }

  /**
   * The consumer's usage ack for a job: checked against the job's key and consumer, once. A job that
   * has ended is still known for a while: a repeated ack is a replay, a late one says so.
   */
  ack(jobId: string, apiKeyId: bigint, ack: VerifiedUsageAck): AckRefusal | null {
    const job = this.#jobs.get(jobId);
    const known = job ?? this.#ended.get(jobId);
    if (!known || known.apiKeyId !== apiKeyId) {
      return { status: 404, code: "job_not_found", message: `No direct job ${jobId} awaits a usage ack.` };
    }
    if (ack.content.job_id !== jobId) {
      return { status: 400, code: "ack_invalid", message: "The ack is for another job." };
    }
    if (ack.event.pubkey !== known.consumer) {
      return {
        status: 403,
        code: "ack_foreign",
        message: "The ack is not signed by the ticket's consumer key.",
      };
    }
    if (job ? job.ack !== null : (known as EndedJob).acked) {
      return { status: 409, code: "ack_replayed", message: `Job ${jobId} is already acknowledged.` };
    }
    if (!job) {
      return {
        status: 404,
        code: "job_not_found",
        message: `Job ${jobId} has ended without an ack (settled on the node's receipt, or reaped); ` +
          "this ack came too late to count.",
      };
    }
    if (!job.candidates.includes(ack.content.node)) {
      return {
        status: 400,
        code: "ack_invalid",
        message: "The ack names a node that held no ticket for the job.",
      };
    }
    job.ack = ack.content;
    if (job.receipts.has(ack.content.node)) this.#settle(job);
    else this.#wait(job);
    return null;
  }

  #wait(job: DirectJob): void {
    if (job.timer) return;
    const { ackWaitMs, jobTimeoutMs } = this.#opts;
    const left = jobTimeoutMs === undefined
      ? Infinity
      : jobTimeoutMs - job.run.elapsedMs() - DEADLINE_MARGIN_MS;
    job.timer = setTimeout(() => {
      job.timer = null;
      this.#settle(job);
    }, Math.max(0, Math.min(ackWaitMs, left)));
  }

  /**
   * The node whose answer the job is billed on: the one the consumer's ack names; without an ack,
   * the last candidate (in ticket order) that signed a receipt, since the consumer moves down the
   * list only before a first token. Null when that node sent no receipt.
   */
  #served(job: DirectJob): string | null {
    if (job.ack) return job.receipts.has(job.ack.node) ? job.ack.node : null;
    return job.candidates.findLast((c) => job.receipts.has(c)) ?? null;
  }

  #settle(job: DirectJob): void {
    if (!this.#jobs.has(job.run.id)) return;
    const { run } = job;
    const servedBy = this.#served(job);
    const receipt = servedBy ? job.receipts.get(servedBy)! : null;
    const ack = job.ack;
    const s = settleDirect({
      receipt: receipt && { usage: receipt.content.usage, outcome: receipt.content.outcome },
      ack,
      promptTokens: job.promptTokens,
      maxTokens: job.maxTokens,
    });
    const node = servedBy ? this.#opts.registry.get(servedBy) ?? null : null;
    if (receipt && node) {
      run.node = node;
      run.prices = modelPrices(node, run.meta.model);
      const u = receipt.content.usage;
      run.engineUsage = u && { ...u, total_tokens: u.prompt_tokens + u.completion_tokens };
      run.ttftMs = receipt.content.ttft_ms;
      run.delivered = true;
    }
    run.direct = {
      billed: s.billed,
      counted: ack && { prompt: ack.prompt_tokens, completion: ack.completion_tokens },
      // No ack: the node's own hash stands (nothing to compare it with).
      artifactHash: ack ? ack.artifact_hash : receipt?.content.artifact_hash ?? null,
    };
    if (s.disagrees) {
      this.#opts.log.warn("direct job's counts disagree", { jobId: run.id, node: servedBy });
    }
    this.#refuseOthers(job, servedBy);
    this.#drop(job, node ? servedBy : null);
    void run.end(s.status, { errorCode: s.errorCode });
  }

  /**
   * The candidates that signed a receipt but whose answer the consumer did not take (it names
   * another node, or a later one served): their attempts end unbilled, as a gateway attempt that
   * failed before its first token, and their platform receipts say so.
   */
  #refuseOthers(job: DirectJob, servedBy: string | null): void {
    const { run } = job;
    for (const [node, r] of job.receipts) {
      if (node === servedBy) continue;
      this.#opts.receipts.attemptEnded({
        jobId: run.id,
        nodePubkey: node,
        kind: run.meta.kind,
        model: run.meta.model,
        apiKeyId: run.meta.apiKeyId,
        outcome: "failure",
        cancelledBy: null,
        errorCode: "answer_refused",
        artifactHash: null,
        reported: r.content.usage,
        counted: null,
        billed: { prompt_tokens: 0, completion_tokens: 0 },
        amountNano: 0n,
        ttftMs: null,
        durationMs: run.elapsedMs(),
      });
    }
  }

  /** Stops tracking a job; the desk forgets the candidates that did not run it. */
  #drop(job: DirectJob, ranOn: string | null): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    this.#jobs.delete(job.run.id);
    if (this.#ended.size >= ENDED_JOBS_KEPT) this.#ended.delete(this.#ended.keys().next().value!);
    this.#ended.set(job.run.id, { apiKeyId: job.apiKeyId, consumer: job.consumer, acked: job.ack !== null });
    for (const c of job.candidates) {
      if (c !== ranOn && !job.receipts.has(c)) this.#opts.receipts.forget(job.run.id, c);
    }
  }

  /** Settles what can be (a receipt in: billed without waiting longer); the rest is left to the reaper. */
  close(): void {
    for (const job of [...this.#jobs.values()]) {
      if (job.receipts.size > 0) this.#settle(job);
      else if (job.timer) clearTimeout(job.timer);
    }
  }
}
