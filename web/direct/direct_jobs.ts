// Direct-mode jobs in progress on this instance (docs/protocol.md §14): from the tickets of
// `POST /v1/route` to their settlement on the node's receipt and the consumer's usage ack. A
// direct job is a JobRun whose stages stop after the hold; its end comes from here, so its row,
// settlement, lease and platform receipt go the way of every gateway job's.
import type { Logger, ReceiptTokens, VerifiedNodeReceipt } from "../../shared/mod.ts";
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
  receipt: { node: string; usage: ReceiptTokens | null; receipt: VerifiedNodeReceipt } | null;
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
}

/** The direct jobs of this instance, by id. */
export class DirectJobs {
  #jobs = new Map<string, DirectJob>();
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
    const job: DirectJob = { ...terms, run, receipt: null, ack: null, timer: null };
    this.#jobs.set(run.id, job);
    run.onAbort = () => this.#drop(job, null);
  }

  /** A job's terms (the relay checks its key and candidates); null when unknown here. */
  terms(jobId: string): Readonly<DirectJobTerms> | null {
    return this.#jobs.get(jobId) ?? null;
  }

  /** A node receipt the desk accepted: a direct job's settles on it (and the ack, or the wait). */
  nodeReceipt(node: string, receipt: VerifiedNodeReceipt): void {
    const job = this.#jobs.get(receipt.content.task_id);
    if (!job || job.receipt || !job.candidates.includes(node)) return;
    job.receipt = { node, usage: receipt.content.usage, receipt };
    if (job.ack && job.ack.node === node) return this.#settle(job);
    this.#wait(job);
  }

  /** The consumer's usage ack for a job: checked against the job's key and consumer, once. */
  ack(jobId: string, apiKeyId: bigint, ack: VerifiedUsageAck): AckRefusal | null {
    const job = this.#jobs.get(jobId);
    if (!job || job.apiKeyId !== apiKeyId) {
      return { status: 404, code: "job_not_found", message: `No direct job ${jobId} awaits a usage ack.` };
    }
    if (ack.content.job_id !== jobId) {
      return { status: 400, code: "ack_invalid", message: "The ack is for another job." };
    }
    if (ack.event.pubkey !== job.consumer) {
      return {
        status: 403,
        code: "ack_foreign",
        message: "The ack is not signed by the ticket's consumer key.",
      };
    }
    if (job.ack) {
      return { status: 409, code: "ack_replayed", message: `Job ${jobId} is already acknowledged.` };
    }
    if (!job.candidates.includes(ack.content.node)) {
      return {
        status: 400,
        code: "ack_invalid",
        message: "The ack names a node that held no ticket for the job.",
      };
    }
    job.ack = ack.content;
    if (job.receipt?.node === ack.content.node) this.#settle(job);
    else this.#wait(job);
    return null;
  }

  #wait(job: DirectJob): void {
    if (job.timer) return;
    job.timer = setTimeout(() => {
      job.timer = null;
      this.#settle(job);
    }, this.#opts.ackWaitMs);
  }

  #settle(job: DirectJob): void {
    if (!this.#jobs.has(job.run.id)) return;
    const { run, receipt } = job;
    const ack = receipt && job.ack?.node === receipt.node ? job.ack : null;
    const s = settleDirect({
      receipt: receipt && { usage: receipt.usage, outcome: receipt.receipt.content.outcome },
      ack,
      promptTokens: job.promptTokens,
      maxTokens: job.maxTokens,
    });
    const node = receipt ? this.#opts.registry.get(receipt.node) ?? null : null;
    if (receipt && node) {
      run.node = node;
      run.prices = modelPrices(node, run.meta.model);
      const u = receipt.usage;
      run.engineUsage = u && { ...u, total_tokens: u.prompt_tokens + u.completion_tokens };
      run.ttftMs = receipt.receipt.content.ttft_ms;
      run.delivered = true;
    }
    run.direct = {
      billed: s.billed,
      counted: ack && { prompt: ack.prompt_tokens, completion: ack.completion_tokens },
      // No ack: the node's own hash stands (nothing to compare it with).
      artifactHash: ack ? ack.artifact_hash : receipt?.receipt.content.artifact_hash ?? null,
    };
    if (s.disagrees) {
      this.#opts.log.warn("direct job's counts disagree", { jobId: run.id, node: receipt?.node });
    }
    this.#drop(job, node ? receipt!.node : null);
    void run.end(s.status, { errorCode: s.errorCode });
  }

  /** Stops tracking a job; the desk forgets the candidates that did not run it. */
  #drop(job: DirectJob, ranOn: string | null): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    this.#jobs.delete(job.run.id);
    for (const c of job.candidates) if (c !== ranOn) this.#opts.receipts.forget(job.run.id, c);
  }

  /** Settles what can be (a receipt in: billed without waiting longer); the rest is left to the reaper. */
  close(): void {
    for (const job of [...this.#jobs.values()]) {
      if (job.receipt) this.#settle(job);
      else if (job.timer) clearTimeout(job.timer);
    }
  }
}
