// Keeps the registry's reputations current (docs/protocol.md §12). Formula 1's sums are all
// exponentially decayed sums, so each node's running total moves forward in time by one factor
// and takes each new receipt in O(1) (the receipt desk's onReceipt hook): a busy node costs no
// query per job. The database recomputes the totals exactly at start and every
// `reputationRefreshMs` (correcting rounding), and for one node after a verification (`refresh`).
import {
  allReputationSums,
  nodeReputation,
  nodeReputationSums,
  type ReceiptRow,
  type Sql,
} from "../../db/mod.ts";
import {
  addReputationSums,
  decayReputationSums,
  emptyReputationSums,
  type Logger,
  type Reputation,
  reputationFromSums,
  type ReputationSums,
  type ReputationTime,
  sumReputation,
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

/** A node's sums at time `at` (unix seconds). */
interface RunningTotal {
  sums: ReputationSums;
  at: number;
}

/** Keeps reputations in the registry current from running totals, re-anchored on the database. */
export class ReputationService {
  #opts: ReputationServiceOptions;
  #now: () => number;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** The running whole-network pass, so two never overlap. */
  #all: Promise<number> | null = null;
  #totals = new Map<string, RunningTotal>();
  /** Nodes whose totals are being read from the database; receipts meanwhile ask for a re-read. */
  #loading = new Map<string, Promise<Reputation>>();
  #stale = new Set<string>();
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

  /** Recomputes every registered node's reputation from the database; returns how many were set. */
  refreshAll(): Promise<number> {
    return this.#all ??= this.#refreshAll().finally(() => this.#all = null);
  }

  async #refreshAll(): Promise<number> {
    const time = this.timeNow();
    const computed = await allReputationSums(this.#opts.sql, time);
    if (this.#closed) return 0;
    let n = 0;
    for (const node of this.#opts.registry.all()) {
      const pubkey = node.record.pubkey;
      // A node being re-read alone keeps that newer read.
      if (this.#loading.has(pubkey)) continue;
      this.#totals.set(pubkey, { sums: computed.get(pubkey) ?? emptyReputationSums(), at: time.at });
      if (this.#publish(pubkey)) n++;
    }
    this.#opts.log.debug("reputations refreshed", { nodes: n, withHistory: computed.size });
    return n;
  }

  /** Re-reads one node's totals from the database now (after a verification of it). */
  refresh(pubkey: string): Promise<Reputation> {
    const loading = this.#loading.get(pubkey);
    if (loading) {
      // Receipts committed after that read started are not in it: read once more after it.
      this.#stale.add(pubkey);
      return loading;
    }
    const next = Promise.resolve().then(async () => {
      const time = this.timeNow();
      const sums = await nodeReputationSums(this.#opts.sql, pubkey, time);
      if (!this.#closed) {
        this.#totals.set(pubkey, { sums, at: time.at });
        this.#publish(pubkey);
      }
      return reputationFromSums(sums);
    }).finally(() => {
      this.#loading.delete(pubkey);
      if (this.#stale.delete(pubkey) && !this.#closed) void this.refresh(pubkey).catch(() => {});
    });
    this.#loading.set(pubkey, next);
    return next;
  }

  /** One node's reputation at time T (default now), fresh from the database (the public API). */
  async compute(pubkey: string, time: ReputationTime = this.timeNow()): Promise<Reputation> {
    return await nodeReputation(this.#opts.sql, pubkey, time);
  }

  /** Sets the registry's reputation of a node from its running total, moved to now. */
  #publish(pubkey: string): boolean {
    const total = this.#totals.get(pubkey);
    if (!total) return false;
    const r = reputationFromSums(total.sums);
    return this.#opts.registry.setReputation(pubkey, toNodeReputation(r, total.at * 1000));
  }

  /** The hook for receipts once committed: adds each to its node's running total. */
  onReceipt = (row: ReceiptRow): void => {
    if (this.#closed) return;
    const pubkey = row.nodePubkey;
    const total = this.#totals.get(pubkey);
    if (!total || this.#loading.has(pubkey)) {
      // No total yet (or one being read): read it, this receipt included.
      this.refresh(pubkey).catch((err) => this.#opts.log.error("reputation refresh failed", { pubkey, err }));
      return;
    }
    const time = { at: Math.max(this.timeNow().at, total.at), halfLifeS: this.#opts.halfLifeS };
    const moved = time.at === total.at
      ? total.sums
      : decayReputationSums(total.sums, Math.pow(0.5, (time.at - total.at) / time.halfLifeS));
    const item = sumReputation([{ ...row, createdAt: Math.min(row.createdAt, time.at) }], [], time);
    this.#totals.set(pubkey, { sums: addReputationSums(moved, item), at: time.at });
    this.#publish(pubkey);
  };

  /** Stops the timer and waits for running reads. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    await Promise.allSettled([this.#all, ...this.#loading.values()]);
  }
}
