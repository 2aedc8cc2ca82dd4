// Per-instance balance leases: the request path reserves each job's hold in memory against a
// chunk of the key's balance this instance took once in the database, so no request waits on a
// database write before its first token. The chunk grows with the key's rate (one top-up per
// many jobs), what a job did not use goes back to the lease as soon as its settlement is durable,
// and a lease with no settlement left to commit is returned to the balance after `idleMs` idle.
// If this instance dies, its leases stop being renewed and the control plane's sweep returns
// them (db/leases.ts).
import { LedgerError, releaseLease, renewLeases, type Sql, takeLease } from "../../db/mod.ts";
import type { Logger } from "../../shared/mod.ts";

/** A job's share of a lease. */
export interface JobLease {
  id: string;
  apiKeyId: bigint;
  /** What was set aside for the job (its worst case). */
  hold: bigint;
}

/** The outcome of a reservation: the job's share, or refused with what the key has available. */
export type LeaseReservation = { ok: true; lease: JobLease } | { ok: false; available: bigint };

/** Options for {@link BalanceLeases}. */
export interface BalanceLeasesOptions {
  /** This control-plane instance (written on its leases). */
  instance: string;
  /** A lease with no job in flight is returned after this long unused (ms). */
  idleMs?: number;
  /** How often this instance's leases are marked as still in use (ms). */
  renewMs?: number;
  /** A first top-up sets aside this many of the job's holds (then doubles while busy). */
  initialJobs?: number;
  /** The most a single top-up sets aside (nano-USD); a job's own hold is always allowed. */
  maxChunk?: bigint;
}

interface KeyLease {
  id: string;
  seq: number;
  /** Held in the lease and not set aside for a job in flight. */
  available: bigint;
  inflight: number;
  lastUsed: number;
  /** Holds per top-up, doubled while top-ups come within a second of each other. */
  factor: number;
  lastTopUp: number;
  topUp: Promise<unknown> | null;
  releasing: Promise<void> | null;
}

const ONE_USD = 1_000_000_000n;

/** The leases of one control-plane instance, by API key. */
export class BalanceLeases {
  #sql: Sql;
  #log: Logger;
  #opts: Required<BalanceLeasesOptions>;
  #byKey = new Map<bigint, KeyLease>();
  #idleTimer: ReturnType<typeof setInterval>;
  #renewTimer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(sql: Sql, log: Logger, opts: BalanceLeasesOptions) {
    this.#sql = sql;
    this.#log = log;
    this.#opts = { idleMs: 2_000, renewMs: 30_000, initialJobs: 8, maxChunk: ONE_USD, ...opts };
    this.#idleTimer = setInterval(() => void this.releaseIdle(), Math.max(50, this.#opts.idleMs / 2));
    this.#renewTimer = setInterval(() => {
      renewLeases(this.#sql, this.#opts.instance).catch((err) =>
        this.#log.error("lease renewal failed", { err })
      );
    }, this.#opts.renewMs);
  }

  /** Sets `hold` aside for a job of the key, topping the lease up from the balance if needed. */
  async reserve(apiKeyId: bigint, hold: bigint): Promise<LeaseReservation> {
    if (hold <= 0n) throw new RangeError("a hold must be positive");
    if (this.#closed) throw new Error("balance leases are closed");
    for (let attempt = 0; attempt < 5; attempt++) {
      let lease = this.#byKey.get(apiKeyId);
      if (lease?.releasing) {
        await lease.releasing;
        continue;
      }
      if (!lease) {
        lease = newLease();
        this.#byKey.set(apiKeyId, lease);
      }
      if (lease.available >= hold) {
        lease.available -= hold;
        lease.inflight++;
        lease.lastUsed = Date.now();
        return { ok: true, lease: { id: lease.id, apiKeyId, hold } };
      }
      if (lease.topUp) {
        await lease.topUp;
        continue;
      }
      let refused;
      try {
        refused = await this.#topUp(apiKeyId, lease, hold);
      } catch (err) {
        if (!(err instanceof LedgerError && err.code === "lease_released")) throw err;
        // The sweep gave this lease up (this instance stalled past the job timeout): start anew.
        this.#log.warn("a balance lease was released by the sweep; taking a new one", { lease: lease.id });
        if (this.#byKey.get(apiKeyId) === lease) this.#byKey.delete(apiKeyId);
        continue;
      }
      if (refused !== null) return { ok: false, available: refused + lease.available };
    }
    const lease = this.#byKey.get(apiKeyId);
    return { ok: false, available: lease?.available ?? 0n };
  }

  /** Returns null after a top-up, or the key's balance when it could not cover the hold. */
  async #topUp(apiKeyId: bigint, lease: KeyLease, hold: bigint): Promise<bigint | null> {
    const now = Date.now();
    lease.factor = now - lease.lastTopUp < 1000 ? Math.min(lease.factor * 2, 4096) : this.#opts.initialJobs;
    lease.lastTopUp = now;
    const need = hold - lease.available;
    let want = hold * BigInt(lease.factor);
    if (want > this.#opts.maxChunk) want = this.#opts.maxChunk;
    if (want < need) want = need;
    const seq = ++lease.seq;
    const taking = takeLease(this.#sql, {
      leaseId: lease.id,
      apiKeyId,
      instance: this.#opts.instance,
      seq,
      need,
      want,
    });
    lease.topUp = taking;
    try {
      const r = await taking;
      if (!r.ok) return r.available;
      lease.available += r.taken;
      return null;
    } finally {
      lease.topUp = null;
    }
  }

  /**
   * A job's settlement is durable (journaled, or committed): what it will not be charged is free
   * for the next jobs at once, whenever its database write happens. (Should the database skip the
   * charge, the lease in the database holds more than this instance counts; releasing it returns
   * the difference, so the consumer never loses it.)
   */
  charged(job: JobLease, charged: bigint): void {
    const lease = this.#current(job);
    if (!lease) {
      // Only after the sweep released the lease under a stalled instance (its jobs then went
      // unbilled, which `deno task reconcile` reports).
      this.#log.warn("settled a job of a lease this instance no longer holds", { lease: job.id });
      return;
    }
    lease.available += job.hold - (charged < job.hold ? charged : job.hold);
    lease.lastUsed = Date.now();
  }

  /** A job's settlement committed: the job no longer keeps its lease from going idle. */
  committed(job: JobLease): void {
    const lease = this.#current(job);
    if (!lease) return;
    lease.inflight--;
    lease.lastUsed = Date.now();
  }

  #current(job: JobLease): KeyLease | null {
    const lease = this.#byKey.get(job.apiKeyId);
    return lease && lease.id === job.id ? lease : null;
  }

  /** Returns leases with no job in flight and unused for `idleMs` to their balances. */
  async releaseIdle(now = Date.now(), idleMs = this.#opts.idleMs): Promise<number> {
    const idle = [...this.#byKey].filter(([, l]) =>
      l.inflight === 0 && !l.topUp && !l.releasing && now - l.lastUsed >= idleMs
    );
    await Promise.all(idle.map(([key, lease]) => this.#release(key, lease)));
    return idle.length;
  }

  #release(key: bigint, lease: KeyLease): Promise<void> {
    lease.releasing = (async () => {
      try {
        if (lease.seq > 0) await releaseLease(this.#sql, lease.id);
        this.#byKey.delete(key);
      } catch (err) {
        this.#log.error("lease not released; will retry", { lease: lease.id, err });
      } finally {
        lease.releasing = null;
      }
    })();
    return lease.releasing;
  }

  /** How much the key's lease has free on this instance (tests). */
  availableOf(apiKeyId: bigint): bigint {
    return this.#byKey.get(apiKeyId)?.available ?? 0n;
  }

  /** Stops the timers and returns every lease (call after the settlements are written). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#idleTimer);
    clearInterval(this.#renewTimer);
    for (let round = 0; round < 3 && this.#byKey.size > 0; round++) {
      await Promise.all([...this.#byKey].map(([key, lease]) => lease.releasing ?? this.#release(key, lease)));
    }
  }
}

function newLease(): KeyLease {
  return {
    id: "lease_" + crypto.randomUUID().replaceAll("-", ""),
    seq: 0,
    available: 0n,
    inflight: 0,
    lastUsed: Date.now(),
    factor: 0,
    lastTopUp: 0,
    topUp: null,
    releasing: null,
  };
}
