// What instances say to each other over NATS, one JSON object per message. Jobs and their events
// go to the receiving instance's inbox subject (one subscription per instance, so one publisher's
// messages arrive in the order sent: docs.nats.io, "Message ordering"); beats and heartbeats go to
// every instance. Each message is checked once here, at the edge.
import {
  type HeartbeatBody,
  isRecord,
  type JobKind,
  type NostrEvent,
  parseHeartbeat,
} from "../../shared/mod.ts";
import type { JobEvent } from "../dispatch/job_channel.ts";
import type { AttemptFacts } from "../receipts/receipt_desk.ts";

/** A message to one instance's inbox. */
export type InboxFrame =
  /** Run this job on your node `node`; send its events to `from`. */
  | {
    t: "job";
    from: string;
    job: string;
    node: string;
    kind: JobKind;
    stream: boolean;
    body: Record<string, unknown>;
  }
  /** Open a relayed direct request (docs/protocol.md §14) on your node `node`; its lines go to `from`. */
  | { t: "relay"; from: string; job: string; node: string; header: Record<string, unknown> }
  /** Opaque request lines of an open relay, in order. */
  | { t: "rf"; job: string; lines: string[] }
  /** A direct-mode ticket for your node `node`, ahead of its request (docs/protocol.md §14). */
  | { t: "ticket"; node: string; ticket: NostrEvent }
  /** Stop this job (the consumer went away, or the job's bound passed). */
  | { t: "cancel"; job: string; reason: string }
  /** Events of a job sent to `node`, in the order the node sent them. */
  | { t: "ev"; job: string; node: string; evs: JobEvent[] }
  /** Receipt desk calls for a node whose socket the receiving instance holds. */
  | { t: "expect"; job: string; node: string; kind: JobKind; model: string }
  | { t: "forget"; job: string; node: string }
  | { t: "ended"; facts: AttemptFacts };

/** An instance's pulse, every beat: it is alive, and the load of its nodes that have jobs. */
export interface BeatFrame {
  i: string;
  load: [string, number][];
  /** The instance's last beat: it is shutting down. */
  bye?: true;
}

/** A node's heartbeat, taken by whichever instance the node posted it to. */
export interface HeartbeatFrame {
  node: string;
  at: number;
  body: HeartbeatBody;
}

/** What an instance stores under a node's key while it holds the node's socket. */
export interface PresenceValue {
  instance: string;
  /** The node's signed record (kind 31990): the others verify it once. */
  event: unknown;
  heartbeat: HeartbeatBody | null;
  heartbeatAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const bigintAsString = (_k: string, v: unknown) => typeof v === "bigint" ? v.toString() : v;

/** One message's bytes; the facts' bigints (apiKeyId, amountNano) travel as strings. */
export function encodeFrame(frame: InboxFrame | BeatFrame | HeartbeatFrame | PresenceValue): Uint8Array {
  // A replacer makes every stringify several times slower: only the facts need one.
  const ended = "t" in frame && frame.t === "ended";
  return encoder.encode(ended ? JSON.stringify(frame, bigintAsString) : JSON.stringify(frame));
}

function parse(data: Uint8Array): Record<string, unknown> | null {
  try {
    const v = JSON.parse(decoder.decode(data));
    return isRecord(v) ? v : null;
  } catch {
    return null;
  }
}

const str = (v: unknown): v is string => typeof v === "string";

function isJobEvent(v: unknown): v is JobEvent {
  if (!isRecord(v)) return false;
  switch (v.type) {
    case "response":
      return typeof v.status === "number" && str(v.body);
    case "chunks":
      return Array.isArray(v.data) && v.data.every(str);
    case "end":
      return true;
    case "fail":
      return str(v.message) && str(v.code) && typeof v.started === "boolean";
    case "lost":
      return str(v.reason);
  }
  return false;
}

function parseFacts(v: unknown): AttemptFacts | null {
  if (!isRecord(v) || !str(v.jobId) || !str(v.nodePubkey) || !str(v.amountNano)) return null;
  if (v.apiKeyId !== null && !str(v.apiKeyId)) return null;
  try {
    return {
      ...(v as unknown as AttemptFacts),
      apiKeyId: v.apiKeyId === null ? null : BigInt(v.apiKeyId),
      amountNano: BigInt(v.amountNano),
    };
  } catch {
    return null;
  }
}

/** An inbox message, or null when it is not one (logged by the caller, never acted on). */
export function parseInboxFrame(data: Uint8Array): InboxFrame | null {
  const v = parse(data);
  if (!v) return null;
  switch (v.t) {
    case "job":
      return str(v.from) && str(v.job) && str(v.node) && (v.kind === "chat" || v.kind === "embeddings") &&
          typeof v.stream === "boolean" && isRecord(v.body)
        ? v as InboxFrame
        : null;
    case "relay":
      return str(v.from) && str(v.job) && str(v.node) && isRecord(v.header) ? v as InboxFrame : null;
    case "rf":
      return str(v.job) && Array.isArray(v.lines) && v.lines.every(str) ? v as InboxFrame : null;
    case "ticket":
      return str(v.node) && isRecord(v.ticket) ? v as InboxFrame : null;
    case "cancel":
      return str(v.job) && str(v.reason) ? v as InboxFrame : null;
    case "ev":
      return str(v.job) && str(v.node) && Array.isArray(v.evs) && v.evs.every(isJobEvent)
        ? v as InboxFrame
        : null;
    case "expect":
      return str(v.job) && str(v.node) && (v.kind === "chat" || v.kind === "embeddings") && str(v.model)
        ? v as InboxFrame
        : null;
    case "forget":
      return str(v.job) && str(v.node) ? v as InboxFrame : null;
    case "ended": {
      const facts = parseFacts(v.facts);
      return facts && { t: "ended", facts };
    }
  }
  return null;
}

/** A beat, or null. */
export function parseBeat(data: Uint8Array): BeatFrame | null {
  const v = parse(data);
  if (!v || !str(v.i) || !Array.isArray(v.load)) return null;
  const load = v.load.filter((x): x is [string, number] =>
    Array.isArray(x) && str(x[0]) && typeof x[1] === "number"
  );
  return v.bye === true ? { i: v.i, load, bye: true } : { i: v.i, load };
}

/** A relayed heartbeat, or null. */
export function parseHeartbeatFrame(data: Uint8Array): HeartbeatFrame | null {
  const v = parse(data);
  if (!v || !str(v.node) || typeof v.at !== "number") return null;
  const body = parseHeartbeat(v.body);
  return typeof body === "string" ? null : { node: v.node, at: v.at, body };
}

/** A presence entry, or null. */
export function parsePresence(data: Uint8Array): PresenceValue | null {
  const v = parse(data);
  if (!v || !str(v.instance) || typeof v.heartbeatAt !== "number") return null;
  let heartbeat: HeartbeatBody | null = null;
  if (v.heartbeat !== null) {
    const hb = parseHeartbeat(v.heartbeat);
    if (typeof hb === "string") return null;
    heartbeat = hb;
  }
  return { instance: v.instance, event: v.event, heartbeat, heartbeatAt: v.heartbeatAt };
}
