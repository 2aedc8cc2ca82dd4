// A lease that one instance of a deployment holds at a time (the canary scheduler runs on its
// holder only). The lease is a key in a NATS KV bucket whose entries live `ttlMs`: the holder
// rewrites it every third of that, at the revision it last wrote (so it learns at once when
// another took it); the others try to create it as often, which succeeds only once it is gone:
// released by a holder shutting down, or expired after the holder died or lost NATS.
import type { KV } from "@nats-io/kv";
import type { Logger } from "../../shared/mod.ts";

/** Options of {@link ClusterLease}. */
export interface ClusterLeaseOptions {
  /** The bucket (its entries' TTL is the lease's). */
  kv: KV;
  /** The lease's name: its key in the bucket. */
  name: string;
  instance: string;
  /** The bucket's TTL: a dead holder's lease is taken over within this and a third of it. */
  ttlMs: number;
  log: Logger;
  /** Called when this instance starts or stops holding the lease. */
  onChange(held: boolean): void;
}

/** One lease, tried and kept by this instance until {@link ClusterLease.close}. */
export class ClusterLease {
  #o: ClusterLeaseOptions;
  #revision = 0;
  #timer: ReturnType<typeof setInterval> | null = null;
  #turn: Promise<void> = Promise.resolve();

  constructor(opts: ClusterLeaseOptions) {
    this.#o = opts;
  }

  /** Whether this instance holds the lease now. */
  get held(): boolean {
    return this.#revision > 0;
  }

  /** Tries now, then every third of the TTL. */
  start(): Promise<void> {
    this.#timer = setInterval(() => {
      this.#turn = this.#turn.then(() => this.#tick());
    }, Math.max(50, Math.floor(this.#o.ttlMs / 3)));
    return this.#turn = this.#tick();
  }

  async #tick(): Promise<void> {
    const { kv, name, instance, log } = this.#o;
    if (this.#timer === null) return;
    if (this.held) {
      try {
        this.#revision = await kv.update(name, instance, this.#revision);
      } catch (err) {
        log.warn("cluster lease lost", { lease: name, err });
        this.#set(0);
      }
      return;
    }
    try {
      this.#set(await kv.create(name, instance));
      log.info("cluster lease taken", { lease: name });
    } catch {
      // Held by another instance (or NATS is away): tried again next turn.
    }
  }

  #set(revision: number): void {
    const was = this.held;
    this.#revision = revision;
    if (was !== this.held) this.#o.onChange(this.held);
  }

  /** Stops trying; a held lease is released, so another instance takes it at its next turn. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#turn;
    if (!this.held) return;
    const revision = this.#revision;
    this.#set(0);
    await this.#o.kv.delete(this.#o.name, { previousSeq: revision }).catch((err) =>
      this.#o.log.warn("cluster lease not released; it expires", { lease: this.#o.name, err })
    );
  }
}
