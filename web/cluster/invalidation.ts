// Cache invalidation among instances: a change one instance makes to shared state that others
// cache in memory (today: a revoked API key, which web/api/v1/api_key_auth.ts caches for 30 s) is
// announced on one subject, and every instance (the sender too) drops its cached copy at once.
// Core NATS is at-most-once: a message lost in a reconnect leaves the cache's TTL as the bound.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { isRecord, type Logger } from "../../shared/mod.ts";

/** What was changed: the kind of cached thing and its key. */
export interface Invalidation {
  kind: "api_key";
  /** The API key's hash (as the cache is keyed). */
  key: string;
}

/** The longest a revocation waits for the server to have its announcement. */
const FLUSH_WAIT_MS = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseInvalidation(data: Uint8Array): Invalidation | null {
  try {
    const v = JSON.parse(decoder.decode(data));
    return isRecord(v) && v.kind === "api_key" && typeof v.key === "string"
      ? { kind: v.kind, key: v.key }
      : null;
  } catch {
    return null;
  }
}

/** Listens on `subject` and hands each invalidation to `apply`. */
export class InvalidationBus {
  #nc: NatsConnection;
  #subject: string;
  #log: Logger;
  #sub: Subscription;

  constructor(nc: NatsConnection, subject: string, log: Logger, apply: (inv: Invalidation) => void) {
    this.#nc = nc;
    this.#subject = subject;
    this.#log = log;
    this.#sub = nc.subscribe(subject, {
      callback(err, msg) {
        if (err) {
          log.warn("invalidation subject error", { err });
          return;
        }
        const inv = parseInvalidation(msg.data);
        if (inv) apply(inv);
        else log.warn("bad invalidation message", { bytes: msg.data.length });
      },
    });
  }

  /**
   * Tells every instance. Resolves once the server has it (a flush), so a next request anywhere is
   * refused; or after a second when NATS is away (the caches' TTL is then the bound).
   */
  async publish(inv: Invalidation): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      this.#nc.publish(this.#subject, encoder.encode(JSON.stringify(inv)));
      await Promise.race([
        this.#nc.flush(),
        new Promise((resolve) => timer = setTimeout(resolve, FLUSH_WAIT_MS)),
      ]);
    } catch (err) {
      this.#log.warn("invalidation not sent; the other instances' caches expire instead", { err });
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#sub.unsubscribe();
  }
}
