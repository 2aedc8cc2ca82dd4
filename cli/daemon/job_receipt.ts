// The node's side of receipts (docs/protocol.md §11): what each job sent is watched frame by
// frame (the output text per choice, the engine's usage, the first token's time), and when the
// job ends the node signs a receipt of it that continues its chain. The chain's head comes from
// the control plane (`welcome`, and each refusal), so a node that lost its state, or whose
// receipt was refused, continues where the server's copy of the chain stands.
import {
  artifactHash,
  createNodeReceipt,
  embeddingsArtifactHash,
  type EventFinalizer,
  isRecord,
  type NodeFrame,
  nowSeconds,
  readUsage,
  type ReceiptHead,
  type ReceiptOutcome,
  type ReceiptTokens,
} from "../../shared/mod.ts";
import { getPublicKey, type NostrEvent } from "nostr-tools/pure";
import type { JobFrame } from "./engine_proxy.ts";

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text);
    return isRecord(v) ? v : null;
  } catch {
    return null;
  }
}

/** The measured fields of a job's receipt. */
export interface OutputSummary {
  artifactHash: string | null;
  usage: ReceiptTokens | null;
  ttftMs: number | null;
  durationMs: number;
}

/**
 * What one job sent to the control plane, as its receipt needs it. Frames are only noted as they
 * go (a job's answer is not held up by its receipt's bookkeeping); they are read by `summary()`.
 */
export class JobOutput {
  readonly #startedAt = performance.now();
  #firstAt: number | null = null;
  #finishedAt: number | null = null;
  #frames: NodeFrame[] = [];
  #texts: string[] = [];
  #embeddings: unknown[] | null = null;
  #usage: ReceiptTokens | null = null;
  #sent = false;

  /** Notes a frame the job sent. */
  observe(frame: NodeFrame): void {
    if (frame.type !== "chunks" && frame.type !== "response") return;
    this.#firstAt ??= performance.now();
    this.#frames.push(frame);
  }

  /** Notes that the job ended now: its duration ends here, whenever its summary is made. */
  finish(): void {
    this.#finishedAt ??= performance.now();
  }

  #read(): void {
    for (const frame of this.#frames) {
      if (frame.type === "chunks") {
        this.#sent = true;
        for (const data of frame.data) this.#chunk(data);
      } else if (frame.type === "response" && frame.status < 400) {
        this.#answer(frame.body);
      }
    }
    this.#frames = [];
  }

  #chunk(data: string): void {
    const chunk = parseObject(data);
    if (!chunk) return;
    const usage = readUsage(chunk.usage);
    if (usage) {
      this.#usage = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens };
    }
    if (!Array.isArray(chunk.choices)) return;
    for (const c of chunk.choices) {
      const content = isRecord(c) && isRecord(c.delta) ? c.delta.content : undefined;
      if (typeof content !== "string") continue;
      const i = Number.isSafeInteger(c.index) && (c.index as number) >= 0 ? c.index as number : 0;
      this.#texts[i] = (this.#texts[i] ?? "") + content;
    }
  }

  #answer(body: string): void {
    const answer = parseObject(body);
    if (!answer) return;
    this.#sent = true;
    const usage = readUsage(answer.usage);
    if (usage) {
      this.#usage = { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens };
    }
    if (Array.isArray(answer.data)) {
      this.#embeddings = answer.data.map((d) => (isRecord(d) ? d.embedding ?? null : null));
      return;
    }
    if (!Array.isArray(answer.choices)) return;
    answer.choices.forEach((c, n) => {
      const content = isRecord(c) && isRecord(c.message) ? c.message.content : undefined;
      const i = isRecord(c) && Number.isSafeInteger(c.index) ? c.index as number : n;
      if (typeof content === "string") this.#texts[i] = (this.#texts[i] ?? "") + content;
    });
  }

  /** The receipt's measured fields (the duration up to `finish()`, or to now). */
  summary(kind: JobFrame["kind"]): OutputSummary {
    const now = this.#finishedAt ?? performance.now();
    this.#read();
    let hash: string | null = null;
    if (this.#sent) {
      hash = kind === "embeddings"
        ? (this.#embeddings ? embeddingsArtifactHash(this.#embeddings) : null)
        : artifactHash(Array.from(this.#texts, (t) => t ?? ""));
    }
    return {
      artifactHash: hash,
      usage: this.#usage,
      ttftMs: this.#firstAt === null ? null : Math.round(this.#firstAt - this.#startedAt),
      durationMs: Math.round(now - this.#startedAt),
    };
  }
}

/** The node's receipt chain: signs each job's receipt after the last one. */
export class ReceiptChain {
  #secretKey: Uint8Array;
  #pubkey: string;
  #finalize: EventFinalizer | undefined;
  #head: ReceiptHead | null = null;
  #lastCreatedAt = 0;

  constructor(secretKey: Uint8Array) {
    this.#secretKey = secretKey;
    this.#pubkey = getPublicKey(secretKey);
  }

  /** Signs with a faster backend from now on (libsecp256k1's, once it has loaded). */
  useFinalizer(finalize: EventFinalizer): void {
    this.#finalize = finalize;
  }

  /** Continues from the head the control plane holds. */
  reset(head: ReceiptHead | null): void {
    this.#head = head;
  }

  /** The chain's head as this node knows it. */
  get head(): ReceiptHead | null {
    return this.#head;
  }

  /** Signs the receipt of a job that ended with `outcome`. */
  sign(job: JobFrame, output: JobOutput | OutputSummary, outcome: ReceiptOutcome): NostrEvent {
    const m = output instanceof JobOutput ? output.summary(job.kind) : output;
    const model = typeof job.body.model === "string" ? job.body.model : "";
    const seq = (this.#head?.seq ?? 0) + 1;
    const createdAt = Math.max(nowSeconds(), this.#lastCreatedAt);
    const event = createNodeReceipt(this.#secretKey, {
      task_id: job.job_id,
      category: job.kind === "chat" ? "inference:chat" : "inference:embeddings",
      model,
      outcome,
      artifact_hash: m.artifactHash,
      usage: m.usage,
      ttft_ms: m.ttftMs,
      duration_ms: m.durationMs,
      seq,
      prev: this.#head?.id ?? null,
      created_at: createdAt,
    }, { pubkey: this.#pubkey, finalize: this.#finalize });
    this.#head = { id: event.id, seq };
    this.#lastCreatedAt = createdAt;
    return event;
  }
}
