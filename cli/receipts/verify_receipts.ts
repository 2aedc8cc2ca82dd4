// Checks a set of receipts offline, trusting nothing but the keys (docs/protocol.md §11): each
// event's signature and content, the platform key, the node receipt each platform receipt names,
// artifact hashes, and both chains (the platform's and the node's) per node.
import {
  type ChainLink,
  checkChain,
  type EventVerifier,
  isRecord,
  NODE_RECEIPT_KIND,
  PLATFORM_RECEIPT_KIND,
  VERIFICATION_KIND,
  type VerifiedNodeReceipt,
  type VerifiedPlatformReceipt,
  verifyNodeReceipt,
  verifyPlatformReceipt,
  verifyVerification,
} from "../../shared/mod.ts";

/** One job's receipts as the control plane serves them (`node_receipt` may be absent). */
export interface ServedItem {
  receipt: unknown;
  node_receipt: unknown | null;
}

/** What to check: items as served, and loose events (JSON lines). */
export interface ReceiptSet {
  items: ServedItem[];
  events: unknown[];
}

/** One problem, named by the receipt or event it concerns. */
export interface ReceiptProblem {
  id: string;
  problem: string;
}

/** What {@link verifyReceipts} found. */
export interface ReceiptReport {
  /** Receipt events examined (node and platform, each counted once per appearance). */
  receipts: number;
  problems: ReceiptProblem[];
  /** The keys that signed the platform receipts that checked out. */
  platformSigners: string[];
}

/** How to check. */
export interface VerifyReceiptsOptions {
  /** The control plane's key (hex); without it, platform signers are only checked to agree. */
  platformPubkey?: string;
  verifyEvent?: EventVerifier;
}

function idOf(raw: unknown, position: number): string {
  return isRecord(raw) && typeof raw.id === "string" && raw.id.length > 0 ? raw.id : `#${position + 1}`;
}

/** Checks everything in `set`; see the file comment for the list. */
export function verifyReceipts(set: ReceiptSet, opts: VerifyReceiptsOptions = {}): ReceiptReport {
  const problems: ReceiptProblem[] = [];
  const report = (id: string, problem: string) => problems.push({ id, problem });
  const verify = { verifyEvent: opts.verifyEvent };
  const platform: VerifiedPlatformReceipt[] = [];
  const nodeById = new Map<string, VerifiedNodeReceipt>();
  const nodeReceipts: VerifiedNodeReceipt[] = [];
  let receipts = 0;
  let position = 0;

  const checkNode = (raw: unknown): VerifiedNodeReceipt | null => {
    const id = idOf(raw, position++);
    receipts++;
    const v = verifyNodeReceipt(raw, verify);
    if (!v.ok) {
      report(id, `node receipt refused: ${v.reason}`);
      return null;
    }
    nodeReceipts.push(v.value);
    nodeById.set(v.value.event.id, v.value);
    return v.value;
  };
  const checkPlatform = (raw: unknown): VerifiedPlatformReceipt | null => {
    const id = idOf(raw, position++);
    receipts++;
    const v = verifyPlatformReceipt(raw, opts.platformPubkey, verify);
    if (!v.ok) {
      report(id, `platform receipt refused: ${v.reason}`);
      return null;
    }
    platform.push(v.value);
    return v.value;
  };

  for (const item of set.items) {
    const p = checkPlatform(item.receipt);
    const n = item.node_receipt === null || item.node_receipt === undefined
      ? null
      : checkNode(item.node_receipt);
    if (p && n && p.content.node_receipt !== n.event.id) {
      report(n.event.id, `served beside platform receipt ${p.event.id}, whose e tag names another`);
    }
  }
  for (const raw of set.events) {
    const kind = isRecord(raw) ? raw.kind : undefined;
    if (kind === NODE_RECEIPT_KIND) checkNode(raw);
    else if (kind === PLATFORM_RECEIPT_KIND) checkPlatform(raw);
    else if (kind === VERIFICATION_KIND) {
      const v = verifyVerification(raw, opts.platformPubkey, verify);
      if (!v.ok) report(idOf(raw, position), `verification refused: ${v.reason}`);
      position++;
    } else report(idOf(raw, position++), `not a receipt (kind ${String(kind)})`);
  }

  const signers = [...new Set(platform.map((p) => p.event.pubkey))];
  if (!opts.platformPubkey && signers.length > 1) {
    for (const p of platform.filter((p) => p.event.pubkey !== signers[0])) {
      report(p.event.id, `signed by ${p.event.pubkey}, but other platform receipts by ${signers[0]}`);
    }
  }
  for (const p of platform) checkCountersignature(p, nodeById, report);
  checkChains(platform, nodeReceipts, report);
  return { receipts, problems, platformSigners: signers };
}

function checkCountersignature(
  p: VerifiedPlatformReceipt,
  nodeById: Map<string, VerifiedNodeReceipt>,
  report: (id: string, problem: string) => void,
): void {
  const named = p.content.node_receipt;
  if (named === null) return;
  const n = nodeById.get(named);
  if (!n) {
    report(p.event.id, `its e tag names node receipt ${named}, which is missing or refused`);
    return;
  }
  if (n.content.task_id !== p.content.task_id) {
    report(p.event.id, `names node receipt ${named} of another job (${n.content.task_id})`);
  }
  if (n.content.agent_did !== p.content.agent_did) {
    report(p.event.id, `names node receipt ${named} signed by another node`);
  }
  if (n.content.artifact_hash !== p.content.artifact_hash) {
    report(
      p.event.id,
      `artifact_hash ${p.content.artifact_hash} differs from the node receipt's ${n.content.artifact_hash}`,
    );
  }
}

function checkChains(
  platform: VerifiedPlatformReceipt[],
  nodeReceipts: VerifiedNodeReceipt[],
  report: (id: string, problem: string) => void,
): void {
  const groups = new Map<string, { side: string; links: ChainLink[] }>();
  const add = (key: string, side: string, link: ChainLink) => {
    const group = groups.get(key) ?? { side, links: [] };
    group.links.push(link);
    groups.set(key, group);
  };
  for (const { event, content } of platform) {
    // One platform chain per node per signer: a second key's receipts are their own chain.
    add(`p:${event.pubkey}:${content.agent_did}`, "platform chain", linkOf(event.id, content));
  }
  for (const { event, content } of nodeReceipts) {
    add(`n:${event.pubkey}`, "node chain", linkOf(event.id, content));
  }
  for (const { side, links } of groups.values()) {
    for (const problem of checkChain(links)) {
      report(problem.id, `${side} ${problem.kind}: ${problem.message}`);
    }
  }
}

function linkOf(id: string, c: { seq: number; prev: string | null; created_at: number }): ChainLink {
  return { id, seq: c.seq, prev: c.prev, createdAt: c.created_at };
}
