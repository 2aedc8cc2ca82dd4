// A node's reputation as the router reads it: filled by the reputation computation from receipts
// and verification (issue 27), read on every route decision, so it is plain numbers in memory.

/** What the router knows of a node's track record; see docs/protocol.md for how it is computed. */
export interface NodeReputation {
  /** 0..1, higher is better: ranks nodes (in 5 % buckets) and answers `provider.min_reputation`. */
  score: number;
  /** 0..1: how likely the node cheats; at or over the router's threshold it gets no consumer jobs. */
  suspicion: number;
  /** (good + 3) / (good + bad + 4) of formula 1: the score before suspicion; 0.75 for the prior. */
  reliability: number;
  /** The weighted count of receipts behind the score; under LOW_DATA_SAMPLES the node is explored. */
  samples: number;
  /** Measured time to first token, ms; null before any measurement. */
  ttftMs: number | null;
  /** Measured completion tokens per second; null before any measurement. */
  tokensPerSecond: number | null;
  /** When it was computed (ms since the epoch); 0 for the prior. */
  updatedAt: number;
}

/** Fewer weighted receipts than this make a low-data node, which the exploration share favours. */
export const LOW_DATA_SAMPLES = 20;

/**
 * The prior of a node with no receipts, as formula 1 gives it (docs/protocol.md §12): reliability
 * 0.75 (Beta(3,1)), suspicion 0.01, score 0.75 × 0.99: neither trusted nor starved.
 */
export function priorReputation(): NodeReputation {
  return {
    score: 0.7425,
    suspicion: 0.01,
    reliability: 0.75,
    samples: 0,
    ttftMs: null,
    tokensPerSecond: null,
    updatedAt: 0,
  };
}
