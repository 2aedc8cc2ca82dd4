// What a finished job tells its receipt: the outcome in CPR's words, whose doing a non-success
// was, the tokens as the node reported, as we counted and as billed, and the hash of the output.
import type { JobRow, Settlement } from "../../db/mod.ts";
import type { CancelledBy, ReceiptOutcome } from "../../shared/mod.ts";
import type { AttemptFacts } from "../receipts/receipt_desk.ts";
import type { JobRun } from "./job_run.ts";

/** The receipt outcome of a job row, and whose doing it was when it did not succeed. */
export function receiptOutcome(row: Pick<JobRow, "status" | "errorCode">): {
  outcome: ReceiptOutcome;
  cancelledBy: CancelledBy | null;
} {
  switch (row.status) {
    case "completed":
      return { outcome: "success", cancelledBy: null };
    case "cancelled":
      return { outcome: "cancelled", cancelledBy: "consumer" };
    case "timeout":
      return { outcome: "timeout", cancelledBy: null };
    case "rejected":
      // The engine refused the consumer's request (a 4xx): the request's fault, not the node's.
      return { outcome: "failure", cancelledBy: "consumer" };
    default:
      return { outcome: row.errorCode === "node_timeout" ? "timeout" : "failure", cancelledBy: null };
  }
}

/** The receipt facts of the job's serving node. */
export function receiptFacts(
  run: JobRun,
  row: JobRow,
  settlement: Settlement | null,
): AttemptFacts {
  const { outcome, cancelledBy } = receiptOutcome(row);
  const usage = run.engineUsage;
  const counted = row.countedPromptTokens !== null
    ? { prompt_tokens: row.countedPromptTokens, completion_tokens: row.countedCompletionTokens ?? 0 }
    : null;
  return {
    jobId: run.id,
    nodePubkey: run.node!.record.pubkey,
    kind: run.meta.kind,
    model: run.meta.model,
    apiKeyId: run.meta.apiKeyId,
    outcome,
    cancelledBy,
    errorCode: row.errorCode,
    artifactHash: run.meta.kind === "chat" ? (run.delivered ? run.outputHash : null) : run.artifactHash,
    reported: usage && { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens },
    counted,
    billed: {
      prompt_tokens: settlement?.promptTokens ?? 0,
      completion_tokens: settlement?.completionTokens ?? 0,
    },
    amountNano: chargedOf(settlement),
    ttftMs: row.ttftMs,
    durationMs: row.latencyMs,
  };
}

/** What the buyer is charged: the cost, capped at the job's hold (as settlement caps it). */
function chargedOf(s: Settlement | null): bigint {
  if (!s?.nodePubkey) return 0n;
  const hold = s.lease?.hold;
  return hold !== undefined && hold < s.cost ? hold : s.cost;
}
