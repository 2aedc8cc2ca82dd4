// What the pages show of a node's reputation (docs/protocol.md §11): the score and its
// components, why it moved (the receipts that counted against the node) and its verification
// history. Plain data and formatting only, so the network page's island can import it too.
import type { ReceiptAgainst, VerificationResult } from "../../db/mod.ts";

/** A node's reputation as the pages show it (scores from 0 to 1). */
export interface ReputationView {
  score: number;
  suspicion: number;
  /** The decayed success share, when the reputation service computed one. */
  reliability: number | null;
  samples: number;
  ttftMs: number | null;
  tokensPerSecond: number | null;
  /** True while no receipt has counted for the node: the numbers are the prior. */
  prior: boolean;
}

/** The operator page's reputation section. */
export interface ReputationPanel {
  pubkey: string;
  npub: string;
  reputation: ReputationView;
  against: ReceiptAgainst[];
  verifications: VerificationResult[];
}

/** What a new node starts from: neither trusted nor starved. */
export const PRIOR_SCORE = 0.7425;
export const PRIOR_SUSPICION = 0.01;

/** The reputation a registry entry carries, when the router has one for it. */
interface CarriedReputation {
  score: number;
  suspicion: number;
  reliability?: number | null;
  samples: number;
  ttftMs: number | null;
  tokensPerSecond: number | null;
}

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const orNull = (v: unknown): number | null => (isNumber(v) ? v : null);

/** The reputation of a registry entry (`node.reputation`), or the prior when it has none. */
export function reputationOf(node: object | undefined): ReputationView {
  const r = (node as { reputation?: Partial<CarriedReputation> } | undefined)?.reputation;
  if (!r || !isNumber(r.score) || !isNumber(r.suspicion)) {
    return {
      score: PRIOR_SCORE,
      suspicion: PRIOR_SUSPICION,
      reliability: 0.75,
      samples: 0,
      ttftMs: null,
      tokensPerSecond: null,
      prior: true,
    };
  }
  return {
    score: r.score,
    suspicion: r.suspicion,
    reliability: orNull(r.reliability),
    samples: isNumber(r.samples) ? r.samples : 0,
    ttftMs: orNull(r.ttftMs),
    tokensPerSecond: orNull(r.tokensPerSecond),
    prior: !isNumber(r.samples) || r.samples <= 0,
  };
}

/** Nodes by score, best first; ties by name then key so the order is stable. */
export function byScore<T extends { name: string; pubkey: string; reputation: ReputationView }>(
  a: T,
  b: T,
): number {
  return b.reputation.score - a.reputation.score || a.name.localeCompare(b.name) ||
    a.pubkey.localeCompare(b.pubkey);
}

/** A score or share from 0 to 1, with two decimals. */
export const formatScore = (n: number): string => n.toFixed(2);

/** A weighted receipt count (decay makes it fractional): one decimal under 100, whole above. */
export const formatSamples = (
  n: number,
): string => (n < 100 ? String(Math.round(n * 10) / 10) : String(Math.round(n)));

/** A share from 0 to 1 as a percentage, or a dash. */
export const formatShare = (n: number | null): string => (n === null ? "–" : `${(100 * n).toFixed(1)} %`);

/** Milliseconds, rounded, or a dash. */
export const formatMs = (n: number | null): string => (n === null ? "–" : `${Math.round(n)} ms`);

/** Tokens per second, one decimal, or a dash. */
export const formatRate = (n: number | null): string => (n === null ? "–" : `${n.toFixed(1)} tok/s`);

/** Why a receipt counted against its node, in words. */
export function reasonOf(r: ReceiptAgainst): string {
  const why: string[] = [];
  if (r.outcome === "failure") why.push(`failed${r.errorCode ? ` (${r.errorCode})` : ""}`);
  if (r.outcome === "timeout") why.push("timed out");
  if (r.cancelledBy === "node") why.push("cancelled by the node");
  if (!r.signed) why.push("the node did not sign its receipt");
  if (r.meteringDisagrees) why.push("the usage it reported disagrees with our count");
  if (r.artifactMismatch) why.push("its output hash differs from what the consumer received");
  return why.join("; ");
}

/** A job's public receipts. */
export const receiptHref = (jobId: string): string => `/api/receipts/${encodeURIComponent(jobId)}`;

/** A node's public receipts (hex key). */
export const nodeReceiptsHref = (pubkey: string): string => `/api/receipts?node=${pubkey}`;

/** A node's published reputation (npub). */
export const reputationHref = (npub: string): string => `/api/reputation/${npub}`;
