// A small multi-relay client: publish to every relay (an answer per relay), subscribe across all,
// verify every event's signature, drop duplicates by id. Built on our own RelayConnection rather
// than nostr-tools' SimplePool, whose dedupe marks an id as seen before its signature is checked:
// a relay that sends a forged copy first gets the genuine event dropped (docs/architecture.md
// "Relays"). Here an id counts as seen only once an event with it has verified, so a bad relay
// costs its own share and nothing more; a down or silent one is bounded by the timeouts.
import type { Filter } from "nostr-tools/filter";
import type { NostrEvent } from "../nostr/event.ts";
import { type ConnectionStats, RelayConnection } from "./relay_connection.ts";

export type { Filter };

/** Checks an event's id and signature; never throws (a Secp256k1Backend's `verifyEvent`). */
export type VerifyEvent = (event: NostrEvent) => boolean;

/** Whether `x` is a relay's URL: ws:// or wss://, at most 512 characters. */
export function isRelayUrl(x: unknown): x is string {
  if (typeof x !== "string" || x.length > 512) return false;
  try {
    return ["ws:", "wss:"].includes(new URL(x).protocol);
  } catch {
    return false;
  }
}

/** A pool's settings. */
export interface RelayPoolOptions {
  /** Signature check for every event received (pass `(await fastestSecp256k1()).verifyEvent`). */
  verifyEvent: VerifyEvent;
  /** Longest wait for a relay's OK to a publish (default 5 s). */
  publishTimeoutMs?: number;
  /** Longest wait for a relay's EOSE before a query stops waiting for it (default 5 s). */
  eoseTimeoutMs?: number;
  /** Longest wait between reconnect attempts (default 30 s). */
  maxBackoffMs?: number;
  /** WebSocket handshake limit (default 5 s). */
  connectTimeoutMs?: number;
}

/** One relay's answer to a publish. */
export interface PublishResult {
  url: string;
  ok: boolean;
  /** The relay's message (`duplicate: …`, `invalid: …`) or why there was none. */
  reason: string;
}

/** What a subscription calls. */
export interface SubscribeHandlers {
  /** A verified event, once per id across all relays. */
  onevent(event: NostrEvent, url: string): void;
  /** Every relay has sent EOSE, failed, or timed out. */
  oneose?(): void;
}

/** An open subscription. */
export interface PoolSubscription {
  close(): void;
}

/** How many ids a subscription remembers for dedupe before forgetting the oldest. */
const MAX_SEEN_IDS = 100_000;

interface SubState {
  handlers: SubscribeHandlers;
  seen: Set<string>;
  eosed: Set<string>;
  eoseFired: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

/** Connections to several relays, used as one. */
export class RelayPool {
  #relays: RelayConnection[];
  #subs = new Map<string, SubState>();
  #opts: Required<RelayPoolOptions>;
  #nextSub = 0;

  constructor(urls: readonly string[], opts: RelayPoolOptions) {
    this.#opts = {
      publishTimeoutMs: 5_000,
      eoseTimeoutMs: 5_000,
      maxBackoffMs: 30_000,
      connectTimeoutMs: 5_000,
      ...opts,
    };
    const events = {
      event: (url: string, subId: string, event: NostrEvent) => this.#onEvent(url, subId, event),
      eose: (url: string, subId: string) => this.#onEose(url, subId),
    };
    this.#relays = [...new Set(urls)].map((url) =>
      new RelayConnection(url, events, {
        maxBackoffMs: this.#opts.maxBackoffMs,
        connectTimeoutMs: this.#opts.connectTimeoutMs,
      })
    );
  }

  /** The relays' URLs. */
  get urls(): string[] {
    return this.#relays.map((r) => r.url);
  }

  /** Each relay: connected now, and what it sent that was dropped. */
  status(): ({ url: string; connected: boolean } & ConnectionStats)[] {
    return this.#relays.map((r) => ({ url: r.url, connected: r.connected, ...r.stats }));
  }

  /** Publishes to every relay at once; resolves with every relay's answer (bounded by the timeout). */
  publish(event: NostrEvent): Promise<PublishResult[]> {
    return Promise.all(this.#relays.map(async (r) => {
      const { ok, reason } = await r.publish(event, this.#opts.publishTimeoutMs);
      return { url: r.url, ok, reason };
    }));
  }

  /** Subscribes on every relay; events arrive verified and once per id. */
  subscribe(filters: Filter[], handlers: SubscribeHandlers): PoolSubscription {
    const subId = `s${this.#nextSub++}-${crypto.randomUUID().slice(0, 8)}`;
    const state: SubState = { handlers, seen: new Set(), eosed: new Set(), eoseFired: false, timer: null };
    state.timer = setTimeout(() => this.#fireEose(state), this.#opts.eoseTimeoutMs);
    this.#subs.set(subId, state);
    for (const r of this.#relays) r.subscribe(subId, filters);
    return {
      close: () => {
        if (!this.#subs.delete(subId)) return;
        if (state.timer !== null) clearTimeout(state.timer);
        for (const r of this.#relays) r.unsubscribe(subId);
      },
    };
  }

  /** The stored events matching `filters` on all relays, verified and deduplicated, once all sent EOSE. */
  query(filters: Filter[], opts: { onevent?: (event: NostrEvent) => void } = {}): Promise<NostrEvent[]> {
    return new Promise((resolve) => {
      const events: NostrEvent[] = [];
      const sub = this.subscribe(filters, {
        onevent: (e) => {
          events.push(e);
          opts.onevent?.(e);
        },
        oneose: () => {
          sub.close();
          resolve(events);
        },
      });
    });
  }

  /** Closes every connection and subscription. */
  close(): void {
    for (const [subId, state] of this.#subs) {
      if (state.timer !== null) clearTimeout(state.timer);
      this.#subs.delete(subId);
    }
    for (const r of this.#relays) r.close();
  }

  #onEvent(url: string, subId: string, event: NostrEvent): void {
    const state = this.#subs.get(subId);
    if (!state || state.seen.has(event.id)) return;
    if (!this.#opts.verifyEvent(event)) return this.#relays.find((r) => r.url === url)?.reportInvalid();
    state.seen.add(event.id);
    if (state.seen.size > MAX_SEEN_IDS) state.seen.delete(state.seen.values().next().value!);
    state.handlers.onevent(event, url);
  }

  #onEose(url: string, subId: string): void {
    const state = this.#subs.get(subId);
    if (!state || state.eoseFired) return;
    state.eosed.add(url);
    if (this.#relays.every((r) => state.eosed.has(r.url))) this.#fireEose(state);
  }

  #fireEose(state: SubState): void {
    if (state.eoseFired) return;
    state.eoseFired = true;
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
    state.handlers.oneose?.();
  }
}
