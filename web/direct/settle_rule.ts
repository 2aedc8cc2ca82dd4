// Direct mode's settlement rule (docs/protocol.md §14): the control plane never sees the text, so
// it bills on the two signed counts it gets — the node's receipt and the consumer's usage ack —
// always within the ticket's bounds (the hold caps the cost at the ticket's max_cost besides).
import type { JobStatus } from "../../db/mod.ts";
import { NO_CONSUMER_ACK, type ReceiptOutcome, type ReceiptTokens } from "../../shared/mod.ts";
import type { BilledTokens } from "../billing/billed_tokens.ts";
import { usageDiverges } from "../metering/count_tokens.ts";

/** What the settlement knows of a direct job. */
export interface DirectUsage {
  /** The node's receipt (its usage and outcome), or null when none came. */
  receipt: { usage: ReceiptTokens | null; outcome: ReceiptOutcome } | null;
  /**
   * The consumer's acknowledged count, or null when none came. Its `artifact_hash` null says the
   * consumer opened nothing of this node's answer (it refused it, or nothing came).
   */
  ack: (ReceiptTokens & { artifact_hash?: string | null }) | null;
  /** The ticket's prompt_tokens (the consumer's count when it asked) and max_tokens. */
  promptTokens: number;
  maxTokens: number;
}

/** What to bill, the job's status and why it is flagged (null: nothing to flag). */
export interface DirectSettlement {
  billed: BilledTokens;
  status: JobStatus;
  errorCode: string | null;
  /** Whether the two counts disagreed (the lower of each was billed). */
  disagrees: boolean;
}

/** The most prompt tokens a direct job may bill: the ticket's count × 1.25 + 16 (what the node accepts). */
export function promptBound(promptTokens: number): number {
  return promptTokens + Math.floor(promptTokens / 4) + 16;
}

const STATUS: Record<ReceiptOutcome, JobStatus> = {
  success: "completed",
  failure: "failed",
  timeout: "timeout",
  cancelled: "cancelled",
};

/**
 * Both counts agree (usageDiverges false for prompt and completion): the node's is billed; they
 * disagree: the lower of each, flagged; no ack: the node's, flagged `no_consumer_ack`; an ack
 * that opened nothing (`artifact_hash` null): nothing, and a success becomes `answer_refused`; no
 * receipt: nothing. Every bill is capped at the ticket's bounds.
 */
export function settleDirect(u: DirectUsage): DirectSettlement {
  if (!u.receipt) {
    return {
      billed: { prompt: 0, completion: 0 },
      status: "failed",
      errorCode: "no_node_receipt",
      disagrees: false,
    };
  }
  const status = STATUS[u.receipt.outcome];
  const node = u.receipt.usage;
  const ack = u.ack;
  let prompt: number;
  let completion: number;
  let errorCode: string | null = null;
  let disagrees = false;
  if (ack && ack.artifact_hash === null) {
    // The consumer opened no frame of this node's answer (sealed with another key, or none came):
    // as a gateway attempt that failed before its first token, it is not billed.
    const claimed = (node?.completion_tokens ?? 0) > 0;
    return {
      billed: { prompt: 0, completion: 0 },
      status: status === "completed" ? "failed" : status,
      errorCode: status === "completed" ? "answer_refused" : null,
      disagrees: claimed,
    };
  }
  if (!ack) {
    prompt = node?.prompt_tokens ?? 0;
    completion = node?.completion_tokens ?? 0;
    errorCode = NO_CONSUMER_ACK;
  } else if (!node) {
    // A node that reported no usage is billed for what the consumer says it received.
    prompt = ack.prompt_tokens;
    completion = ack.completion_tokens;
  } else if (
    usageDiverges(node.prompt_tokens, ack.prompt_tokens) ||
    usageDiverges(node.completion_tokens, ack.completion_tokens)
  ) {
    prompt = Math.min(node.prompt_tokens, ack.prompt_tokens);
    completion = Math.min(node.completion_tokens, ack.completion_tokens);
    disagrees = true;
  } else {
    prompt = node.prompt_tokens;
    completion = node.completion_tokens;
  }
  return {
    billed: {
      prompt: Math.min(prompt, promptBound(u.promptTokens)),
      completion: Math.min(completion, u.maxTokens),
    },
    status,
    errorCode,
    disagrees,
  };
}
