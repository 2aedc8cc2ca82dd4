// Reputation from relays alone (docs/protocol.md §12, §16): a node's platform receipts (kind 7476,
// `p` = the node) and verifications (kind 7477, `p` = the node) signed by one control plane key,
// with the node receipts they name (kind 7475, by id), fetched from relays and fed to formula 1.
// A relay may hold garbage: anything that fails its check is skipped, never trusted.
import {
  NODE_RECEIPT_KIND,
  type NodeReceiptContent,
  nostrDid,
  PLATFORM_RECEIPT_KIND,
  verifyNodeReceipt,
  verifyPlatformReceipt,
} from "../receipts/receipt.ts";
import { VERIFICATION_KIND, verifyVerification } from "../receipts/verification.ts";
import {
  computeReputation,
  type Reputation,
  type ReputationReceipt,
  type ReputationTime,
  type ReputationVerification,
} from "../receipts/reputation.ts";
import { reputationReceiptOf, reputationVerificationOf } from "../receipts/reputation_input.ts";
import type { Offer } from "./offer.ts";
import type { RelayPool } from "./relay_pool.ts";

/** A node's checked evidence from relays. */
export interface RelayEvidence {
  receipts: ReputationReceipt[];
  verifications: ReputationVerification[];
  /** Events a relay sent that failed their check (forged, foreign, malformed). */
  skipped: number;
}

/** How much to read. */
export interface RelayEvidenceOptions {
  /** Only the newest N receipts and N verifications (default: all the relays hold). */
  limit?: number;
}

/**
 * The verified receipts and verifications of `node` (hex) signed by `platformKey` (hex) on the
 * pool's relays, each once.
 * @example const ev = await fetchRelayEvidence(pool, node, platformKey, { limit: 200 });
 */
export async function fetchRelayEvidence(
  pool: RelayPool,
  node: string,
  platformKey: string,
  opts: RelayEvidenceOptions = {},
): Promise<RelayEvidence> {
  const limit = opts.limit === undefined ? {} : { limit: opts.limit };
  const [platform, checks] = await Promise.all([
    pool.query([{ kinds: [PLATFORM_RECEIPT_KIND], authors: [platformKey], "#p": [node], ...limit }]),
    pool.query([{ kinds: [VERIFICATION_KIND], authors: [platformKey], "#p": [node], ...limit }]),
  ]);
  let skipped = 0;
  const agent = nostrDid(node);
  const platformReceipts = [];
  for (const e of platform) {
    const p = verifyPlatformReceipt(e, platformKey);
    if (p.ok && p.value.content.agent_did === agent) platformReceipts.push(p.value.content);
    else skipped++;
  }
  const named = platformReceipts.flatMap((c) => c.node_receipt === null ? [] : [c.node_receipt]);
  const nodeReceipts = new Map<string, NodeReceiptContent>();
  for (let i = 0; i < named.length; i += 500) {
    const ids = named.slice(i, i + 500);
    const events = await pool.query([{ kinds: [NODE_RECEIPT_KIND], authors: [node], ids }]);
    for (const e of events) {
      const n = verifyNodeReceipt(e);
      if (n.ok && n.value.event.pubkey === node) nodeReceipts.set(n.value.event.id, n.value.content);
      else skipped++;
    }
  }
  const receipts: ReputationReceipt[] = [];
  for (const c of platformReceipts) {
    // A node receipt the relays lack is read as none: its artifact cannot be compared (§12 step 3).
    const n = c.node_receipt === null ? null : nodeReceipts.get(c.node_receipt) ?? null;
    if (n !== null && n.task_id !== c.task_id) {
      skipped++;
      continue;
    }
    receipts.push(reputationReceiptOf(c, n));
  }
  const verifications: ReputationVerification[] = [];
  for (const e of checks) {
    const v = verifyVerification(e, platformKey);
    if (v.ok && v.value.content.agent_did === agent) {
      verifications.push(reputationVerificationOf(v.value.content));
    } else skipped++;
  }
  return { receipts, verifications, skipped };
}

/** A node's formula-1 reputation at `time`, from the relays alone. */
export async function relayReputation(
  pool: RelayPool,
  node: string,
  platformKey: string,
  time: ReputationTime,
  opts: RelayEvidenceOptions = {},
): Promise<Reputation & { evidence: RelayEvidence }> {
  const evidence = await fetchRelayEvidence(pool, node, platformKey, opts);
  return { ...computeReputation(evidence.receipts, evidence.verifications, time), evidence };
}

/** The router's reputation bucket (docs/protocol.md §12, web/router): 0 best, 20 worst, 5 % wide. */
export function reputationBucketOf(score: number): number {
  return 20 - Math.round(Math.min(1, Math.max(0, score)) * 20);
}

/**
 * Offers best first: by reputation bucket, then completion price, then prompt price, then latency
 * (the node's decayed mean time to first token from its receipts; unknown after known), then
 * newest. `scoreOf` gives a node's score (the prior for one without receipts).
 */
export function rankOffers(
  offers: readonly Offer[],
  scoreOf: (pubkey: string) => number,
  ttftOf: (pubkey: string) => number | null = () => null,
): Offer[] {
  const bucket = new Map(offers.map((o) => [o.pubkey, reputationBucketOf(scoreOf(o.pubkey))]));
  const ttft = new Map(offers.map((o) => [o.pubkey, ttftOf(o.pubkey) ?? Infinity]));
  return [...offers].sort((a, b) =>
    bucket.get(a.pubkey)! - bucket.get(b.pubkey)! || a.completionPer1k - b.completionPer1k ||
    a.promptPer1k - b.promptPer1k || compareMs(ttft.get(a.pubkey)!, ttft.get(b.pubkey)!) ||
    b.createdAt - a.createdAt
  );
}

function compareMs(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

/** Settings of {@link RelayReputations}. */
export interface RelayReputationsOptions {
  pool: RelayPool;
  /** The control plane whose receipts are trusted (hex). */
  platformKey: string;
  /** Newest receipts (and verifications) read per node (default 200). */
  perNode?: number;
  /** How long a score is reused (default 60 s). */
  ttlMs?: number;
  halfLifeS?: number;
  /** The clock, in ms (default Date.now). */
  now?: () => number;
}

/** Scores of nodes from relays, computed on demand and cached per node for `ttlMs`. */
export class RelayReputations {
  #opts: Required<RelayReputationsOptions>;
  #cache = new Map<string, { at: number; standing: Promise<{ score: number; ttftMs: number | null }> }>();

  constructor(opts: RelayReputationsOptions) {
    this.#opts = { perNode: 200, ttlMs: 60_000, halfLifeS: 604_800, now: Date.now, ...opts };
  }

  /** A node's score: from its newest receipts on the relays, or the prior when it has none. */
  async score(node: string): Promise<number> {
    return (await this.#standing(node)).score;
  }

  /** A node's score and decayed mean time to first token (null without timed receipts), cached. */
  #standing(node: string): Promise<{ score: number; ttftMs: number | null }> {
    const now = this.#opts.now();
    const held = this.#cache.get(node);
    if (held && now - held.at < this.#opts.ttlMs) return held.standing;
    const time = { at: Math.floor(now / 1000), halfLifeS: this.#opts.halfLifeS };
    const standing = relayReputation(this.#opts.pool, node, this.#opts.platformKey, time, {
      limit: this.#opts.perNode,
    }).then((r) => ({ score: r.score, ttftMs: r.components.ttftMs }));
    this.#cache.set(node, { at: now, standing });
    if (this.#cache.size > 10_000) this.#cache.delete(this.#cache.keys().next().value!);
    return standing;
  }

  /** The offers ranked by {@link rankOffers} with the nodes' scores. */
  async rank(offers: readonly Offer[]): Promise<Offer[]> {
    const nodes = [...new Set(offers.map((o) => o.pubkey))];
    const standings = new Map(
      await Promise.all(nodes.map(async (n) => [n, await this.#standing(n)] as const)),
    );
    return rankOffers(offers, (n) => standings.get(n)!.score, (n) => standings.get(n)!.ttftMs);
  }
}
