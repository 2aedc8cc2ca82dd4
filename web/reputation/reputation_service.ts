// Keeps the registry's reputations current (docs/protocol.md §12): every node's at start and every
// `reputationRefreshMs`, and one node's right after a new receipt or verification of it (the
// receipt desk's onReceipt hook and the canaries call `refresh`). The router reads the numbers
// from memory; the database does the weighted sums.
import { allReputations, nodeReputation, type Sql } from "../../db/mod.ts";
import {
  emptyReputationSums,
  type Logger,
  type Reputation,
  reputationFromSums,
  type ReputationTime,
} from "../../shared/mod.ts";
import type { NodeRegistry } from "../registry/node_registry.ts";
import type { NodeReputation } from "../registry/node_reputation.ts";

/** What the service needs. */
export interface ReputationServiceOptions {
  sql: Sql;
  registry: NodeRegistry;
  log: Logger;
  halfLifeS: number;
  /** How often every node's reputation is recomputed; 0: only on demand. */
  refreshMs: number;
  /** The clock, ms since the epoch (tests pass their own). */
  now?: () => number;
}

/** The router's view of a reputation computed at `atMs`. */
export function toNodeReputation(r: Reputation, atMs: number): NodeReputation {
  return {
    score: r.score,
    suspicion: r.suspicion,
    reliability: r.reliability,
    samples: r.samples,
    ttftMs: r.components.ttftMs,
    tokensPerSecond: r.components.tokensPerSecond,
    updatedAt: atMs,
  };
}

/** Recomputes reputations from the database into the registry. */
export class ReputationService {
  #opts: ReputationServiceOptions;
  #now: () => number;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** The running whole-network pass, so two never overlap. */
  #all: Promise<number> | null = null;
  /** One node's queued refresh, so a burst of receipts costs one query. */
  #queued = new Map<string, Promise<Reputation>>();
  #closed = false;

  constructor(opts: ReputationServiceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** The time a computation starting now uses: T in unix seconds, and the half-life. */
  timeNow(): ReputationTime {
    return { at: Math.floor(this.#now() / 1000), halfLifeS: this.#opts.halfLifeS };
  }

  /** Computes every node's reputation now, then every `refreshMs`; failures are logged, not thrown. */
  start(): void {
    const run = () =>
      this.refreshAll().catch((err) => this.#opts.log.error("reputation refresh failed", { err }));
    void run();
    if (this.#opts.refreshMs > 0) this.#timer = setInterval(run, this.#opts.refreshMs);
  }

  /** Recomputes every registered node's reputation; returns how many were set. */
  refreshAll(): Promise<number> {
    return this.#all ??= this.#refreshAll().finally(() => this.#all = null);
  }

  async #refreshAll(): Promise<number> {
    const atMs = this.#now();
    const time = { at: Math.floor(atMs / 1000), halfLifeS: this.#opts.halfLifeS };
    const computed = await allReputations(this.#opts.sql, time);
    if (this.#closed) return 0;
    const prior = reputationFromSums(emptyReputationSums());
    let n = 0;
    for (const node of this.#opts.registry.all()) {
      const pubkey = node.record.pubkey;
      if (this.#opts.registry.setReputation(pubkey, toNodeReputation(computed.get(pubkey) ?? prior, atMs))) {
        n++;
      }
    }
    this.#opts.log.debug("reputations refreshed", { nodes: n, withHistory: computed.size });
    return n;
  }

  /** Recomputes one node's reputation now (after a receipt or a verification of it). */
  refresh(pubkey: string): Promise<Reputation> {
    const queued = this.#queued.get(pubkey);
    if (queued) return queued;
    // Started on the next turn, so the receipts committed in this one are all counted.
    const next = Promise.resolve().then(() => {
      this.#queued.delete(pubkey);
      return this.compute(pubkey);
    });
    this.#queued.set(pubkey, next);
    return next;
  }

  /** Computes one node's reputation at time T (default now) and stores it in the registry. */
  async compute(pubkey: string, time: ReputationTime = this.timeNow()): Promise<Reputation> {
    const r = await nodeReputation(this.#opts.sql, pubkey, time);
    if (!this.#closed) this.#opts.registry.setReputation(pubkey, toNodeReputation(r, time.at * 1000));
    return r;
  }

  /** The hook for new receipts: refreshes that node, logging a failure. */
  onReceipt = (pubkey: string): void => {
    if (this.#closed) return;
    this.refresh(pubkey).catch((err) => this.#opts.log.error("reputation refresh failed", { pubkey, err }));
  };

  /** Stops the timer and waits for a running pass. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await Promise.allSettled([this.#all, ...this.#queued.values()]);
  }
}
