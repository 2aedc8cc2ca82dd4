// Receipts on relays (docs/protocol.md §11 "On relays"): each platform receipt (kind 7476, after the
// node's 7475 when it signed one) and each verification (kind 7477) is published to the relays of
// `INFERNET_RELAYS` once written, so anyone can compute reputation with no control plane. Off the
// request path and best effort: one lane per relay, each a bounded queue (the oldest is dropped
// when full) with a few publishes in flight, so a down or slow relay costs only its own lane.
// The database stays the complete record (/api/receipts).
import type { NostrEvent } from "nostr-tools/pure";
import { type Logger, parseEvent } from "../../shared/mod.ts";
import { RelayPool, type VerifyEvent } from "../../shared/relay/mod.ts";
import type { ReceiptRow } from "../../db/mod.ts";

/** Settings of a mirror. */
export interface RelayMirrorOptions {
  urls: readonly string[];
  log: Logger;
  /** Checks events read back (the pool's); publishing never reads any. */
  verifyEvent: VerifyEvent;
  /** Events waiting per relay before the oldest is dropped (default 10,000). */
  maxQueue?: number;
  /** Publishes in flight per relay (default 8). */
  inFlight?: number;
  /** Longest wait for one relay's OK (default 5 s). */
  publishTimeoutMs?: number;
}

/** One relay's counters. */
export interface MirrorLaneStats {
  url: string;
  queued: number;
  published: number;
  refused: number;
  dropped: number;
}

class Lane {
  readonly pool: RelayPool;
  queue: NostrEvent[] = [];
  running = 0;
  stats: MirrorLaneStats;
  idle: (() => void)[] = [];

  constructor(readonly url: string, opts: RelayMirrorOptions) {
    this.pool = new RelayPool([url], {
      verifyEvent: opts.verifyEvent,
      publishTimeoutMs: opts.publishTimeoutMs ?? 5_000,
    });
    this.stats = { url, queued: 0, published: 0, refused: 0, dropped: 0 };
  }
}

/** Publishes written receipts and verifications to relays, in the background. */
export class RelayMirror {
  #lanes: Lane[];
  #log: Logger;
  #maxQueue: number;
  #inFlight: number;
  #closed = false;

  constructor(opts: RelayMirrorOptions) {
    this.#lanes = [...new Set(opts.urls)].map((url) => new Lane(url, opts));
    this.#log = opts.log;
    this.#maxQueue = opts.maxQueue ?? 10_000;
    this.#inFlight = opts.inFlight ?? 8;
  }

  /** The receipt desk's listener: the node's receipt (when signed), then the platform's. */
  onReceipt = (row: ReceiptRow): void => {
    const events = row.nodeEvent === null ? [row.event] : [row.nodeEvent, row.event];
    this.publishJson(events);
  };

  /** Queues events given as JSON text (as stored); a malformed one is logged and skipped. */
  publishJson(events: readonly string[]): void {
    const parsed: NostrEvent[] = [];
    for (const text of events) {
      let event: NostrEvent | null = null;
      try {
        event = parseEvent(JSON.parse(text));
      } catch {
        // Logged below, like any other malformed event.
      }
      if (event) parsed.push(event);
      else this.#log.error("relay mirror: a stored event is malformed", { text: text.slice(0, 200) });
    }
    this.publish(parsed);
  }

  /** Queues events on every relay's lane. */
  publish(events: readonly NostrEvent[]): void {
    if (this.#closed) return;
    for (const lane of this.#lanes) {
      for (const event of events) lane.queue.push(event);
      while (lane.queue.length > this.#maxQueue) {
        lane.queue.shift();
        lane.stats.dropped++;
      }
      this.#pump(lane);
    }
  }

  /** Each relay's counters. */
  stats(): MirrorLaneStats[] {
    return this.#lanes.map((l) => ({ ...l.stats, queued: l.queue.length + l.running }));
  }

  /** Resolves once every queued event was answered or timed out, or after `timeoutMs`. */
  async flush(timeoutMs = Infinity): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = Promise.all(
      this.#lanes.map((lane) =>
        lane.queue.length + lane.running === 0 ? undefined : new Promise<void>((r) => lane.idle.push(r))
      ),
    );
    const limit = timeoutMs === Infinity
      ? idle
      : new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([idle, limit]);
    clearTimeout(timer);
  }

  /** Drops what is queued and closes the connections. */
  close(): void {
    this.#closed = true;
    for (const lane of this.#lanes) {
      lane.stats.dropped += lane.queue.length;
      lane.queue = [];
      lane.pool.close();
      for (const r of lane.idle.splice(0)) r();
    }
  }

  #pump(lane: Lane): void {
    while (lane.running < this.#inFlight && lane.queue.length > 0) {
      const event = lane.queue.shift()!;
      lane.running++;
      lane.pool.publish(event).then(([answer]) => {
        // "duplicate:" is a success: the relay holds the event already (NIP-01).
        if (answer.ok || answer.reason.startsWith("duplicate")) lane.stats.published++;
        else {
          lane.stats.refused++;
          this.#log.debug("relay mirror: not published", {
            relay: lane.url,
            id: event.id,
            why: answer.reason,
          });
        }
      }).finally(() => {
        lane.running--;
        if (this.#closed) return;
        this.#pump(lane);
        if (lane.running === 0 && lane.queue.length === 0) { for (const r of lane.idle.splice(0)) r(); }
      });
    }
  }
}
