// Signed receipts for tests and benchmarks: a node's chain of node and platform receipts built
// with real keys, and a re-signer that turns any edited content into a validly signed event, so
// a test can reach the checks behind the signature.
import { finalizeEvent, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import {
  artifactHash,
  buyerDidOf,
  canonicalJson,
  type CanonicalValue,
  createNodeReceipt,
  createPlatformReceipt,
  nostrDid,
  receiptIdOf,
} from "../shared/mod.ts";

/** One job's receipts as the control plane serves them. */
export interface ReceiptItem {
  receipt: NostrEvent;
  node_receipt: NostrEvent | null;
}

/** What {@link receiptChain} builds. */
export interface ReceiptChainOptions {
  nodeKey: Uint8Array;
  platformKey: Uint8Array;
  count: number;
  /** The seq of the first receipt on both sides (default 1; `prev` is then a made-up id). */
  startSeq?: number;
  /** Jobs whose node never signed (0-based positions); their platform receipts say signed: false. */
  unsigned?: readonly number[];
  createdAt?: number;
  jobPrefix?: string;
  /** Every job's time to first token, ms (default 40). */
  ttftMs?: number;
}

/**
 * A node's receipts, oldest first: both sides chain by seq and prev; the node side skips jobs
 * the node did not sign, so its seq runs over signed jobs only.
 */
export function receiptChain(opts: ReceiptChainOptions): ReceiptItem[] {
  const node = getPublicKey(opts.nodeKey);
  const platform = getPublicKey(opts.platformKey);
  const start = opts.startSeq ?? 1;
  const createdAt = opts.createdAt ?? 1_800_000_000;
  const fakePrev = (side: string) => start === 1 ? null : "0".repeat(63) + (side === "node" ? "1" : "2");
  let nodeSeq = start;
  let nodePrev = fakePrev("node");
  let platformPrev = fakePrev("platform");
  const items: ReceiptItem[] = [];
  for (let i = 0; i < opts.count; i++) {
    const taskId = `${opts.jobPrefix ?? "job"}_${start + i}`;
    const at = createdAt + i;
    const hash = artifactHash([`answer ${i}`]);
    const usage = { prompt_tokens: 12, completion_tokens: 5 };
    let nodeReceipt: NostrEvent | null = null;
    if (!opts.unsigned?.includes(i)) {
      nodeReceipt = createNodeReceipt(opts.nodeKey, {
        task_id: taskId,
        category: "inference:chat",
        model: "test-model",
        outcome: "success",
        artifact_hash: hash,
        usage,
        ttft_ms: opts.ttftMs ?? 40,
        duration_ms: 300,
        seq: nodeSeq++,
        prev: nodePrev,
        created_at: at,
      });
      nodePrev = nodeReceipt.id;
    }
    const receipt = createPlatformReceipt(opts.platformKey, {
      receipt_id: receiptIdOf(taskId, node),
      task_id: taskId,
      agent_did: nostrDid(node),
      buyer_did: buyerDidOf(platform, "acct_1"),
      category: "inference:chat",
      model: "test-model",
      amount: "0.000017",
      currency: "USD",
      outcome: "success",
      cancelled_by: null,
      error_code: null,
      artifact_hash: hash,
      usage: { reported: nodeReceipt ? usage : null, counted: usage, billed: usage },
      ttft_ms: opts.ttftMs ?? 40,
      duration_ms: 300,
      signed: nodeReceipt !== null,
      node_receipt: nodeReceipt?.id ?? null,
      seq: start + i,
      prev: platformPrev,
      created_at: at,
    });
    platformPrev = receipt.id;
    items.push({ receipt, node_receipt: nodeReceipt });
  }
  return items;
}

/**
 * Re-signs `event` with `secretKey` after `edit` changes its parsed content, written back as
 * canonical JSON (or `rawContent` verbatim, to test non-canonical spellings).
 */
export function resignWith(
  secretKey: Uint8Array,
  event: NostrEvent,
  edit: (content: Record<string, unknown>) => void,
  opts: { tags?: string[][]; createdAt?: number; rawContent?: string } = {},
): NostrEvent {
  const content = JSON.parse(event.content) as Record<string, unknown>;
  edit(content);
  return finalizeEvent({
    kind: event.kind,
    created_at: opts.createdAt ?? event.created_at,
    tags: opts.tags ?? event.tags.map((t) => [...t]),
    content: opts.rawContent ?? canonicalJson(content as CanonicalValue),
  }, secretKey);
}
