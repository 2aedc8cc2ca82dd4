// A relay that misbehaves, for the pool's tests: it sends garbage (bad JSON, unknown messages,
// events for subscriptions never opened, forged copies of real events, malformed events), floods
// forged events, or never answers at all. It listens on 127.0.0.1 and a free port.
import { type WebSocket, WebSocketServer } from "ws";

/**
 * How the relay misbehaves: `garbage` answers everything with junk, `silent` never answers,
 * `flood` answers a REQ with a stream of well-formed events whose signatures are all bad.
 */
export type Misbehaviour = "garbage" | "silent" | "flood";

/** How many forged events a `flood` relay sends per REQ. */
export const FLOOD_EVENTS = 500;

/** A misbehaving relay that is listening. */
export interface MisbehavingRelay {
  url: string;
  /** Events it forges copies of: same id, changed content, and a signature that cannot verify. */
  forge(events: { id: string; pubkey: string; kind: number; created_at: number; tags: string[][] }[]): void;
  close(): Promise<void>;
}

/** Starts a misbehaving relay. */
export async function startMisbehavingRelay(mode: Misbehaviour): Promise<MisbehavingRelay> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  let forged: Record<string, unknown>[] = [];
  wss.on("connection", (ws: WebSocket) => {
    ws.on("message", (data: Buffer) => {
      if (mode === "silent") return;
      let m: unknown[];
      try {
        m = JSON.parse(data.toString());
      } catch {
        return;
      }
      const subId = typeof m[1] === "string" ? m[1] : "x";
      if (mode === "flood") {
        if (m[0] !== "REQ") return;
        for (let i = 0; i < FLOOD_EVENTS && ws.readyState === ws.OPEN; i++) {
          const id = crypto.randomUUID().replaceAll("-", "").padEnd(64, "0");
          const event = {
            id,
            pubkey: id,
            kind: 1,
            created_at: 1,
            tags: [],
            content: "",
            sig: "0".repeat(128),
          };
          ws.send(JSON.stringify(["EVENT", subId, event]));
        }
        return;
      }
      const junk: string[] = [
        "not json at all",
        "{}",
        JSON.stringify(["EVENT"]),
        JSON.stringify(["EVENT", "never-opened", forged[0] ?? {}]),
        JSON.stringify(["EVENT", subId, { id: "zz", kind: "one" }]),
        JSON.stringify(["OK", "f".repeat(64), true, ""]),
        JSON.stringify(["WHAT", subId]),
        ...forged.map((e) => JSON.stringify(["EVENT", subId, e])),
      ];
      for (const j of junk) ws.send(j);
      if (m[0] === "EVENT") {
        const id = (m[1] as { id?: unknown })?.id;
        ws.send(JSON.stringify(["OK", id, false, "error: garbage relay"]));
      }
      if (m[0] === "REQ") ws.send(JSON.stringify(["EOSE", subId]));
    });
  });
  const address = wss.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `ws://127.0.0.1:${port}`,
    forge(events) {
      forged = events.map((e) => ({ ...e, content: "forged", sig: "0".repeat(128) }));
    },
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
