// A local Nostr relay: npm @nostr-relay/core (NIP-01 message handling, signature and NIP-40 checks,
// ephemeral fan-out) with its validator, our in-memory storage, and npm `ws` for the sockets.
// Three gaps of the library are closed here (docs/architecture.md "Relays"): its live fan-out ignores
// tag filters (`#p`, `#d`…), so every live event is matched again with nostr-tools' full NIP-01
// matcher before it goes out; and it has no size limit, so an oversized EVENT is answered
// `["OK", id, false, "invalid: …"]` and never stored; and its per-id verdict cache is off (below).
import { NostrRelay } from "@nostr-relay/core";
import { type Client, type Filter, type IncomingMessage, LogLevel } from "@nostr-relay/common";
import { Validator } from "@nostr-relay/validator";
import { matchFilters } from "nostr-tools/filter";
import { type WebSocket, WebSocketServer } from "ws";
import { MemoryEventRepository } from "./memory_repository.ts";

/** The largest EVENT message a relay accepts by default, in bytes (NIP-44's 64 KiB plaintext fits). */
export const DEFAULT_MAX_EVENT_BYTES = 128 * 1024;

/** Where and how a relay listens. */
export interface RelayServerOptions {
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 0: a free port. */
  port?: number;
  maxEventBytes?: number;
  /** Default 64. */
  maxSubscriptionsPerClient?: number;
  repository?: MemoryEventRepository;
}

/** A relay that is listening. */
export interface RunningRelay {
  /** `ws://host:port`. */
  readonly url: string;
  readonly port: number;
  readonly repository: MemoryEventRepository;
  close(): Promise<void>;
}

const EVENT_PREFIX = '["EVENT",';

/** Starts a relay; resolves once it listens. */
export async function startRelay(opts: RelayServerOptions = {}): Promise<RunningRelay> {
  const hostname = opts.hostname ?? "127.0.0.1";
  const maxEventBytes = opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const maxSubs = opts.maxSubscriptionsPerClient ?? 64;
  const repository = opts.repository ?? new MemoryEventRepository();
  const relay = new NostrRelay(repository, {
    logLevel: LogLevel.ERROR,
    maxSubscriptionsPerClient: maxSubs,
    // The library caches REQ results for 1 s by default: a query right after a publish would miss it.
    filterResultCacheTtl: 0,
    // It also caches each event's verdict by id for 10 minutes: a forged copy sent first would get
    // the genuine event refused. The repository answers duplicates instead.
    eventHandlingResultCacheTtl: 0,
  });
  if (repository instanceof MemoryEventRepository) {
    repository.onDeletion = (deletion) => void relay.broadcast(deletion).catch(() => {});
  }
  const validator = new Validator({ maxContentLength: maxEventBytes });
  // ws closes a socket whose frame passes maxPayload (1009); below it, oversize gets an OK false.
  const wss = new WebSocketServer({ host: hostname, port: opts.port ?? 0, maxPayload: maxEventBytes * 4 });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  wss.on("connection", (ws: WebSocket) => serveSocket(ws, relay, validator, { maxEventBytes, maxSubs }));
  const address = wss.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `ws://${hostname}:${port}`,
    port,
    repository,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await relay.destroy();
    },
  };
}

/** Messages of one socket waiting to be handled; past it the client is cut off. */
const MAX_QUEUED_MESSAGES = 1_000;

function serveSocket(
  ws: WebSocket,
  relay: NostrRelay,
  validator: Validator,
  limits: { maxEventBytes: number; maxSubs: number },
): void {
  const { maxEventBytes, maxSubs } = limits;
  const subs = new Map<string, Filter[]>();
  const client: Client = {
    get readyState() {
      return ws.readyState as Client["readyState"];
    },
    send(data: string) {
      if (data.startsWith(EVENT_PREFIX) && !passesFilter(data, subs)) return;
      ws.send(data);
    },
  };
  relay.handleConnection(client);
  const notice = (text: string) => client.send(JSON.stringify(["NOTICE", text]));
  // Messages are handled in order, one at a time, so a REQ's EOSE precedes later answers.
  let queue = Promise.resolve();
  let queued = 0;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (++queued > MAX_QUEUED_MESSAGES) return ws.terminate();
    queue = queue.then(() => handle(data, isBinary))
      .catch((err) => notice(`error: ${err.message}`))
      .finally(() => queued--);
  });
  ws.on("close", () => relay.handleDisconnect(client));
  ws.on("error", () => ws.terminate());

  async function handle(data: Buffer, isBinary: boolean): Promise<void> {
    if (isBinary) return notice("invalid: binary frames are not Nostr messages");
    const text = data.toString("utf8");
    if (data.length > maxEventBytes) {
      const id = /"id"\s*:\s*"([0-9a-f]{64})"/.exec(text)?.[1] ?? "";
      return client.send(
        JSON.stringify(["OK", id, false, `invalid: event larger than ${maxEventBytes} bytes`]),
      );
    }
    let message: IncomingMessage;
    try {
      message = await validator.validateIncomingMessage(text);
    } catch (err) {
      return notice(`invalid: ${(err as Error).message}`);
    }
    if (message[0] === "REQ") {
      // The library keeps at most maxSubs per client (least recently used go); so do we.
      subs.delete(message[1]);
      if (subs.size >= maxSubs) subs.delete(subs.keys().next().value!);
      subs.set(message[1], message.slice(2) as Filter[]);
    }
    await relay.handleMessage(client, message);
    if (message[0] === "CLOSE") subs.delete(message[1]);
  }
}

// Stored events already match (the repository applies every filter field); checking them again
// costs one JSON.parse each and keeps one rule for both paths.
function passesFilter(data: string, subs: Map<string, Filter[]>): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return false;
  }
  const [, subId, event] = parsed as [string, string, Parameters<typeof matchFilters>[1]];
  const filters = subs.get(subId);
  return filters !== undefined && matchFilters(filters as Parameters<typeof matchFilters>[0], event);
}
