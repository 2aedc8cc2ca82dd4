// Test harnesses for Nostr relays: a real relay on a free port, and a raw client socket that
// records every message a relay sends, so tests read the NIP-01 exchange as it happened.
import WebSocket from "ws";
import { type RelayServerOptions, type RunningRelay, startRelay } from "../shared/relay/relay_server.ts";
import { within } from "./within.ts";

/** Starts the project's relay on 127.0.0.1 and a free port. */
export function startTestRelay(opts: RelayServerOptions = {}): Promise<RunningRelay> {
  return startRelay({ ...opts, hostname: "127.0.0.1", port: 0 });
}

/** A relay message as received: `["EVENT", subId, event]`, `["EOSE", subId]`, `["OK", …]`… */
export type RelayMessage = [string, ...unknown[]];

/** One client connection speaking raw NIP-01 JSON. */
export class RawRelaySocket {
  readonly messages: RelayMessage[] = [];
  #ws: WebSocket;
  #waiters: (() => void)[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data: Buffer) => {
      try {
        this.messages.push(JSON.parse(data.toString()));
      } catch {
        this.messages.push(["<garbage>", data.toString()]);
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    ws.on("close", () => {
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Connects to `url` (bounded by 5 s). */
  static async open(url: string): Promise<RawRelaySocket> {
    const ws = new WebSocket(url);
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      }),
      5_000,
      `a connection to ${url}`,
    );
    return new RawRelaySocket(ws);
  }

  /** Sends a message as JSON (or a raw string as it is). */
  send(message: unknown): void {
    this.#ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Waits (bounded) for the first message, from `from` on, that `pick` accepts. */
  async next(pick: (m: RelayMessage) => boolean, what: string, from = 0, ms = 5_000): Promise<RelayMessage> {
    const deadline = Date.now() + ms;
    for (let i = from;;) {
      for (; i < this.messages.length; i++) if (pick(this.messages[i])) return this.messages[i];
      const left = deadline - Date.now();
      if (left <= 0 || this.#ws.readyState !== WebSocket.OPEN) {
        throw new Error(`no message: ${what} (got ${JSON.stringify(this.messages).slice(0, 500)})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Publishes an event and returns the relay's OK answer: `[accepted, message]`. */
  async publish(event: { id: string }): Promise<[boolean, string]> {
    const from = this.messages.length;
    this.send(["EVENT", event]);
    const ok = await this.next((m) => m[0] === "OK" && m[1] === event.id, `OK for ${event.id}`, from);
    return [ok[2] as boolean, ok[3] as string];
  }

  /** Opens a subscription and returns the events stored before its EOSE. */
  async query(subId: string, ...filters: unknown[]): Promise<{ id: string }[]> {
    const from = this.messages.length;
    this.send(["REQ", subId, ...filters]);
    const eose = await this.next((m) => m[0] === "EOSE" && m[1] === subId, `EOSE of ${subId}`, from);
    const end = this.messages.indexOf(eose);
    return this.messages.slice(from, end)
      .filter((m) => m[0] === "EVENT" && m[1] === subId)
      .map((m) => m[2] as { id: string });
  }

  /** The events received so far on a subscription. */
  eventsOn(subId: string): { id: string }[] {
    return this.messages.filter((m) => m[0] === "EVENT" && m[1] === subId).map((m) => m[2] as { id: string });
  }

  close(): void {
    this.#ws.close();
  }
}
