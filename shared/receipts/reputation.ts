// Reputation, formula 1 (docs/protocol.md §12): a node's score from its platform receipts and the
// control plane's verification results, each weighted by age (half-life H), so anyone holding the
// public events can recompute what the server publishes. Reliability is a Beta(3,1) mean over good
// and bad receipts; suspicion is a Bayesian spoofer probability (after Inference.net's Kuzco) from
// the verifications; score = reliability × (1 − suspicion).
import type { CancelledBy, ReceiptOutcome } from "./receipt.ts";

/** The formula's version, published beside every score. */
export const REPUTATION_FORMULA = 1;

/** The default half-life of a receipt's or verification's weight: 7 days, in seconds. */
export const DEFAULT_REPUTATION_HALF_LIFE_S = 604_800;

/** What a new node is assumed to be: Beta(3,1), reliability 0.75. */
const PRIOR_GOOD = 3;
const PRIOR_BAD = 1;
/** Prior probability that a node spoofs its work. */
export const SUSPICION_PRIOR = 0.01;
/** Likelihood ratios of one verification: P(result | spoofer) / P(result | honest). */
const FAIL_RATIO = 100;
const PASS_RATIO = 0.505;
/** Log-odds are clamped here, so that no number of results overflows a float. */
const MAX_LOG_ODDS = 500;

/** The facts of one platform receipt that reputation reads (the `receipts` row's columns). */
export interface ReputationReceipt {
  createdAt: number;
  outcome: ReceiptOutcome;
  cancelledBy: CancelledBy | null;
  signed: boolean;
  meteringDisagrees: boolean;
  artifactMismatch: boolean;
  ttftMs: number | null;
  durationMs: number;
  /** Billed completion tokens. */
  completionTokens: number;
}

/** The facts of one verification event that reputation reads. */
export interface ReputationVerification {
  createdAt: number;
  result: "pass" | "fail";
}

/** When and with which half-life a reputation is computed. */
export interface ReputationTime {
  /** T: the time the weights are computed at, unix seconds. */
  at: number;
  halfLifeS: number;
}

/** The weighted sums the score is made of: what the SQL aggregates and the shared code finishes. */
export interface ReputationSums {
  good: number;
  bad: number;
  successes: number;
  failures: number;
  timeouts: number;
  nodeCancellations: number;
  unsigned: number;
  meteringDisagreements: number;
  artifactMismatches: number;
  verificationPasses: number;
  verificationFailures: number;
  /** Σw and Σw·ttft over good receipts with a time to first token. */
  ttftWeight: number;
  ttftWeighted: number;
  /** Σw and Σw·tokens/s over good receipts with ≥ 1 completion token and generation time > 0. */
  tpsWeight: number;
  tpsWeighted: number;
}

/** The published components (weighted sums, and the weighted means of speed). */
export interface ReputationComponents {
  good: number;
  bad: number;
  successes: number;
  failures: number;
  timeouts: number;
  nodeCancellations: number;
  unsigned: number;
  meteringDisagreements: number;
  artifactMismatches: number;
  verificationPasses: number;
  verificationFailures: number;
  ttftMs: number | null;
  tokensPerSecond: number | null;
}

/** A node's reputation under formula 1. */
export interface Reputation {
  formula: typeof REPUTATION_FORMULA;
  score: number;
  suspicion: number;
  reliability: number;
  /** good + bad: how much weighted evidence the score rests on. */
  samples: number;
  components: ReputationComponents;
}

/** The weight of an item created at `createdAt`: 0.5 ^ (max(0, T − t) / H). */
export function reputationWeight(createdAt: number, time: ReputationTime): number {
  return Math.pow(0.5, Math.max(0, time.at - createdAt) / time.halfLifeS);
}

/** Sums with nothing in them: a node never seen. */
export function emptyReputationSums(): ReputationSums {
  return {
    good: 0,
    bad: 0,
    successes: 0,
    failures: 0,
    timeouts: 0,
    nodeCancellations: 0,
    unsigned: 0,
    meteringDisagreements: 0,
    artifactMismatches: 0,
    verificationPasses: 0,
    verificationFailures: 0,
    ttftWeight: 0,
    ttftWeighted: 0,
    tpsWeight: 0,
    tpsWeighted: 0,
  };
}

/** The sums moved forward in time: every weight times `factor` (0.5 per half-life). */
export function decayReputationSums(sums: ReputationSums, factor: number): ReputationSums {
  const out = { ...sums };
  for (const k of Object.keys(out) as (keyof ReputationSums)[]) out[k] *= factor;
  return out;
}

/** Two sets of sums at the same time, added (every sum of formula 1 is a weighted sum). */
export function addReputationSums(a: ReputationSums, b: ReputationSums): ReputationSums {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof ReputationSums)[]) out[k] += b[k];
  return out;
}

/** Whether a receipt counts at all: a consumer's or the platform's cancellation is not the node's doing. */
export function countsForReputation(r: ReputationReceipt): boolean {
  return r.cancelledBy !== "consumer" && r.cancelledBy !== "platform";
}

/** Whether a counted receipt is good: a signed success whose metering and artifact agree. */
export function isGoodReceipt(r: ReputationReceipt): boolean {
  return r.outcome === "success" && r.signed && !r.meteringDisagrees && !r.artifactMismatch;
}

/**
 * Adds up the weighted evidence of the receipts and verifications created at or before T (order
 * does not matter; later ones are left out).
 */
export function sumReputation(
  receipts: Iterable<ReputationReceipt>,
  verifications: Iterable<ReputationVerification>,
  time: ReputationTime,
): ReputationSums {
  const s = emptyReputationSums();
  for (const r of receipts) {
    // Only what existed at T: a reader fetching later sees newer events the server never counted.
    if (r.createdAt > time.at || !countsForReputation(r)) continue;
    const w = reputationWeight(r.createdAt, time);
    if (r.outcome === "success") s.successes += w;
    else if (r.outcome === "failure") s.failures += w;
    else if (r.outcome === "timeout") s.timeouts += w;
    else s.nodeCancellations += w;
    if (!r.signed) s.unsigned += w;
    if (r.meteringDisagrees) s.meteringDisagreements += w;
    if (r.artifactMismatch) s.artifactMismatches += w;
    if (!isGoodReceipt(r)) {
      s.bad += w;
      continue;
    }
    s.good += w;
    if (r.ttftMs === null) continue;
    s.ttftWeight += w;
    s.ttftWeighted += w * r.ttftMs;
    if (r.completionTokens >= 1 && r.durationMs > r.ttftMs) {
      s.tpsWeight += w;
      s.tpsWeighted += w * (r.completionTokens * 1000 / (r.durationMs - r.ttftMs));
    }
  }
  for (const v of verifications) {
    if (v.createdAt > time.at) continue;
    const w = reputationWeight(v.createdAt, time);
    if (v.result === "pass") s.verificationPasses += w;
    else s.verificationFailures += w;
  }
  return s;
}

/** The score from the sums: the one place formula 1's arithmetic lives. */
export function reputationFromSums(s: ReputationSums): Reputation {
  const reliability = (s.good + PRIOR_GOOD) / (s.good + s.bad + PRIOR_GOOD + PRIOR_BAD);
  // odds = prior odds × 100^Σw(fail) × 0.505^Σw(pass), in logs so that it cannot overflow.
  const logOdds = Math.log(SUSPICION_PRIOR / (1 - SUSPICION_PRIOR)) +
    s.verificationFailures * Math.log(FAIL_RATIO) + s.verificationPasses * Math.log(PASS_RATIO);
  const odds = Math.exp(Math.min(MAX_LOG_ODDS, Math.max(-MAX_LOG_ODDS, logOdds)));
  const suspicion = odds / (1 + odds);
  return {
    formula: REPUTATION_FORMULA,
    // 1/(1+odds) rather than 1 − suspicion: exact even when suspicion rounds to 1.
    score: reliability / (1 + odds),
    suspicion,
    reliability,
    samples: s.good + s.bad,
    components: {
      good: s.good,
      bad: s.bad,
      successes: s.successes,
      failures: s.failures,
      timeouts: s.timeouts,
      nodeCancellations: s.nodeCancellations,
      unsigned: s.unsigned,
      meteringDisagreements: s.meteringDisagreements,
      artifactMismatches: s.artifactMismatches,
      verificationPasses: s.verificationPasses,
      verificationFailures: s.verificationFailures,
      ttftMs: s.ttftWeight > 0 ? s.ttftWeighted / s.ttftWeight : null,
      tokensPerSecond: s.tpsWeight > 0 ? s.tpsWeighted / s.tpsWeight : null,
    },
  };
}

/**
 * A node's reputation under formula 1 at time T.
 * @example computeReputation([], [], { at: 0, halfLifeS: 604800 }) // score 0.7425: 0.75 × (1 − 0.01)
 */
export function computeReputation(
  receipts: Iterable<ReputationReceipt>,
  verifications: Iterable<ReputationVerification>,
  time: ReputationTime,
): Reputation {
  return reputationFromSums(sumReputation(receipts, verifications, time));
}

/** The components as the API writes them (wire names). */
export function componentsToWire(c: ReputationComponents): Record<string, number | null> {
  return {
    good: c.good,
    bad: c.bad,
    successes: c.successes,
    failures: c.failures,
    timeouts: c.timeouts,
    node_cancellations: c.nodeCancellations,
    unsigned: c.unsigned,
    metering_disagreements: c.meteringDisagreements,
    artifact_mismatches: c.artifactMismatches,
    verification_passes: c.verificationPasses,
    verification_failures: c.verificationFailures,
    ttft_ms: c.ttftMs,
    tokens_per_second: c.tokensPerSecond,
  };
}

/** Whether two scores agree to within `tolerance` (absolute, 1e-9 by default). */
export function scoresAgree(a: number, b: number, tolerance = 1e-9): boolean {
  return Math.abs(a - b) <= tolerance;
}
