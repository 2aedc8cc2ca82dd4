// One relay of a RelayPool: a NIP-01 client socket that reconnects with capped, jittered backoff,
// re-sends its open subscriptions after each reconnect, and hands up only well-formed messages.
// Everything a relay sends is untrusted: bad JSON, unknown message types, events for subscriptions
// we never opened, answers for events we never sent are dropped and counted, never thrown.
import WebSocket from "ws";
import type { Filter } from "nostr-tools/filter";
import { type NostrEvent, parseEvent } from "../nostr/event.ts";

/** Most bytes of one relay message we read (a larger frame closes the socket). */
export const MAX_MESSAGE_BYTES = 512 * 1024;

/** Backoff before reconnect attempt `n` (0-based): 250 ms doubling to `maxMs`, ±50 % jitter. */
export function reconnectDelayMs(n: number, maxMs: number, random = Math.random): number {
  return Math.round(Math.min(maxMs, 250 * 2 ** Math.min(n, 16)) * (0.5 + random()));
}

/** What a connection reports to its pool. */
export interface ConnectionEvents {
  /** A well-formed (not yet verified) event on subscription `subId`. */
  event(url: string, subId: string, event: NostrEvent): void;
  /** The relay finished sending stored events for `subId` (EOSE), or closed it (CLOSED). */
  eose(url: string, subId: string): void;
}

/** Events failing their signature check that one connection may send before it is cut. */
export const MAX_INVALID_PER_CONNECTION = 50;

/** Counts of what a relay sent that was dropped. */
export interface ConnectionStats {
  connects: number;
  /** Messages that were not well-formed or not for us. */
  dropped: number;
  /** Events whose id or signature did not verify. */
  invalid: number;
  /** Times the connection was cut for sending too many invalid events. */
  penalties: number;
}

interface PendingOk {
  resolve(r: { ok: boolean; reason: string }): void;
}

/** A reconnecting socket to one relay. */
export class RelayConnection {
  readonly url: string;
  readonly stats: ConnectionStats = { connects: 0, dropped: 0, invalid: 0, penalties: 0 };
  #ws: WebSocket | null = null;
  #open = false;
  #closed = false;
  #attempt = 0;
  #invalidSinceOpen = 0;
  #cut: WebSocket | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #subs = new Map<string, Filter[]>();
  #pendingOk = new Map<string, PendingOk>();
  #waiters: (() => void)[] = [];
  #events: ConnectionEvents;
  #maxBackoffMs: number;
  #connectTimeoutMs: number;

  constructor(
    url: string,
    events: ConnectionEvents,
    opts: { maxBackoffMs: number; connectTimeoutMs: number },
  ) {
    this.url = url;
    this.#events = events;
    this.#maxBackoffMs = opts.maxBackoffMs;
    this.#connectTimeoutMs = opts.connectTimeoutMs;
    this.#connect();
  }

  /** True while the socket is open. */
  get connected(): boolean {
    return this.#open;
  }

  /** Resolves true once connected, false after `ms` or on close. */
  waitOpen(ms: number): Promise<boolean> {
    if (this.#open) return Promise.resolve(true);
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(this.#open);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      this.#waiters.push(done);
    });
  }

  /** Sends an EVENT and waits (up to `timeoutMs`) for the relay's OK. */
  async publish(event: NostrEvent, timeoutMs: number): Promise<{ ok: boolean; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    if (!(await this.waitOpen(timeoutMs))) return { ok: false, reason: "not connected" };
    return await new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pendingOk.delete(event.id);
        resolve({ ok: false, reason: "no answer in time" });
      }, Math.max(0, deadline - Date.now()));
      this.#pendingOk.get(event.id)?.resolve({ ok: false, reason: "published again" });
      this.#pendingOk.set(event.id, {
        resolve: (r) => {
          clearTimeout(timer);
          this.#pendingOk.delete(event.id);
          resolve(r);
        },
      });
      this.#send(["EVENT", event]);
    });
  }

  /** Opens (or replaces) a subscription; it is sent again after every reconnect. */
  subscribe(subId: string, filters: Filter[]): void {
    this.#subs.set(subId, filters);
    if (this.#open) this.#send(["REQ", subId, ...filters]);
    // A relay already failing has nothing stored to give now; it joins live once it is back.
    else if (this.#attempt > 0) queueMicrotask(() => this.#events.eose(this.url, subId));
  }

  /** Closes a subscription. */
  unsubscribe(subId: string): void {
    if (this.#subs.delete(subId) && this.#open) this.#send(["CLOSE", subId]);
  }

  /**
   * Counts an event that failed verification; past MAX_INVALID_PER_CONNECTION on one connection the
   * socket is cut and the relay waits the longest backoff, so a forging relay costs a bounded share.
   */
  reportInvalid(): void {
    this.stats.invalid++;
    if (++this.#invalidSinceOpen < MAX_INVALID_PER_CONNECTION) return;
    this.#invalidSinceOpen = 0;
    this.stats.penalties++;
    this.#attempt = 16;
    // Frames already buffered on the socket are not read: the cut is immediate.
    this.#cut = this.#ws;
    this.#ws?.terminate();
  }

  /** Closes the socket for good. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    for (const p of [...this.#pendingOk.values()]) p.resolve({ ok: false, reason: "pool closed" });
    this.#ws?.terminate();
    this.#ws = null;
    this.#open = false;
    for (const w of this.#waiters.splice(0)) w();
  }

  #send(message: unknown): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #connect(): void {
    if (this.#closed) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url, {
        handshakeTimeout: this.#connectTimeoutMs,
        maxPayload: MAX_MESSAGE_BYTES,
      });
    } catch {
      return this.#retry();
    }
    this.#ws = ws;
    ws.on("open", () => {
      this.#open = true;
      // A relay cut for forgeries starts again from the longest wait, not the shortest.
      this.#attempt = this.stats.penalties > 0 ? 16 : 0;
      this.#invalidSinceOpen = 0;
      this.stats.connects++;
      for (const [subId, filters] of this.#subs) this.#send(["REQ", subId, ...filters]);
      for (const w of this.#waiters.splice(0)) w();
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (this.#cut !== ws) this.#onMessage(data, isBinary);
    });
    ws.on("close", () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#open = false;
      for (const p of [...this.#pendingOk.values()]) p.resolve({ ok: false, reason: "connection lost" });
      this.#retry();
    });
    ws.on("error", () => ws.terminate());
  }

  #retry(): void {
    if (this.#closed) return;
    // Subscriptions waiting on this relay are told it has nothing more for now.
    for (const subId of this.#subs.keys()) this.#events.eose(this.url, subId);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect();
    }, reconnectDelayMs(this.#attempt++, this.#maxBackoffMs));
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    const m = isBinary ? null : parseMessage(data.toString("utf8"));
    if (!m) return void this.stats.dropped++;
    const [type, a, b, c] = m;
    if (type === "EVENT" && typeof a === "string" && this.#subs.has(a)) {
      const event = parseEvent(b);
      if (event) return this.#events.event(this.url, a, event);
    } else if ((type === "EOSE" || type === "CLOSED") && typeof a === "string" && this.#subs.has(a)) {
      return this.#events.eose(this.url, a);
    } else if (type === "OK" && typeof a === "string" && typeof b === "boolean") {
      const pending = this.#pendingOk.get(a);
      if (pending) return pending.resolve({ ok: b, reason: typeof c === "string" ? c.slice(0, 200) : "" });
    } else if (type === "NOTICE" || type === "AUTH") {
      return;
    }
    this.stats.dropped++;
  }
}

function parseMessage(text: string): unknown[] | null {
  try {
    const m = JSON.parse(text);
    return Array.isArray(m) && typeof m[0] === "string" ? m : null;
  } catch {
    return null;
  }
}
