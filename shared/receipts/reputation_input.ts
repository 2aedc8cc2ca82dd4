// What reputation reads from the public events (docs/protocol.md §12): the facts of a platform
// receipt (with the node's own receipt, when it signed one) and of a verification. The control
// plane stores the same facts as columns of `receipts`; a reader who recomputes a score derives
// them here from the events it verified.
import type { NodeReceiptContent, PlatformReceiptContent, ReceiptTokens } from "./receipt.ts";
import type { VerificationContent } from "./verification.ts";
import type { ReputationReceipt, ReputationVerification } from "./reputation.ts";

/** True when a node's token count is far from the control plane's: |a − b| > 16 + 25 % of the larger. */
export function usageDiverges(engine: number, ours: number): boolean {
  return Math.abs(engine - ours) > 16 + Math.max(engine, ours) * 0.25;
}

/** Whether the usage the node reported diverges from ours, for prompt or completion tokens. */
export function meteringDisagrees(reported: ReceiptTokens | null, counted: ReceiptTokens | null): boolean {
  if (!reported || !counted) return false;
  return usageDiverges(reported.prompt_tokens, counted.prompt_tokens) ||
    usageDiverges(reported.completion_tokens, counted.completion_tokens);
}

/**
 * Whether the node's receipt names another output than the one the consumer received: its
 * `artifact_hash` differs from the platform receipt's (null and a hash differ too). No node
 * receipt, no mismatch: that receipt is already counted as unsigned.
 */
export function artifactMismatch(
  platform: PlatformReceiptContent,
  node: NodeReceiptContent | null,
): boolean {
  return node !== null && node.artifact_hash !== platform.artifact_hash;
}

/**
 * The facts of one receipt, from its verified content (and the node's, when it signed). Metering
 * and artifact are compared on successes only: any other outcome is already bad, and its partial
 * output or usage proves nothing.
 */
export function reputationReceiptOf(
  platform: PlatformReceiptContent,
  node: NodeReceiptContent | null,
): ReputationReceipt {
  const success = platform.outcome === "success";
  return {
    createdAt: platform.created_at,
    outcome: platform.outcome,
    cancelledBy: platform.cancelled_by,
    signed: platform.signed,
    meteringDisagrees: success && meteringDisagrees(platform.usage.reported, platform.usage.counted),
    artifactMismatch: success && artifactMismatch(platform, node),
    ttftMs: platform.ttft_ms,
    durationMs: platform.duration_ms,
    completionTokens: platform.usage.billed.completion_tokens,
  };
}

/** The facts of one verification, from its verified content. */
export function reputationVerificationOf(v: VerificationContent): ReputationVerification {
  return { createdAt: v.created_at, result: v.result };
}
