// Frames on the node's job socket (`GET /api/nodes/ws`), one JSON object per text frame.
// docs/protocol.md is the reference for node implementers; keep the two in step.
import type { NostrEvent } from "nostr-tools/pure";
import { compileSchema, type JsonSchema } from "../json_schema/validator.ts";
import { isRecord } from "../json/is_record.ts";

/** What a job asks the engine for. */
export type JobKind = "chat" | "embeddings";

/** Control plane → node frames. */
export type ServerFrame =
  | { type: "challenge"; challenge: string }
  /**
   * `receipt_head`: the node's last receipt the server holds; the next one follows it.
   * `receipt_batches`: the server takes several receipts in one `receipts` frame.
   */
  | {
    type: "welcome";
    pubkey: string;
    ping_interval_ms: number;
    receipt_head?: ReceiptHead | null;
    receipt_batches?: boolean;
  }
  | ReceiptAnswer
  /** The answers to one `receipts` frame, in its order. */
  | { type: "receipt_answers"; answers: ReceiptAnswer[] }
  | { type: "job"; job_id: string; kind: JobKind; stream: boolean; body: Record<string, unknown> }
  | { type: "cancel"; job_id: string; reason: string }
  /** Direct mode, relayed (docs/protocol.md §14): a consumer's request for this node; `header` is its line 1. */
  | { type: "relay_open"; job_id: string; header: Record<string, unknown> }
  /** One opaque line of a relayed request (an encrypted frame the control plane cannot read). */
  | { type: "relay_frame"; job_id: string; frame: string }
  /**
   * Direct mode (docs/protocol.md §14, "Tickets ahead"): a ticket for this node, sent as the route
   * answer goes out, so the node can check it before the consumer's request arrives. A hint only.
   */
  | { type: "ticket"; ticket: NostrEvent }
  | { type: "ping"; t: number }
  | { type: "error"; message: string };

/** Node → control plane frames. */
export type NodeFrame =
  | { type: "auth"; event: NostrEvent }
  | { type: "pong"; t: number }
  /** A non-streamed answer, or the engine's error answer (status ≥ 400) for either kind. */
  | { type: "response"; job_id: string; status: number; body: string }
  /** SSE `data:` payloads exactly as the engine sent them (never `[DONE]`), in order. */
  | { type: "chunks"; job_id: string; data: string[] }
  /** The engine's stream ended normally (`data: [DONE]`). */
  | { type: "end"; job_id: string }
  /** The job failed at the node; `started` says whether any chunk had been sent. */
  | { type: "fail"; job_id: string; message: string; code: string; started: boolean }
  /** The node's signed receipt (kind 7475) of a job it ended, sent after the job's last frame. */
  | { type: "receipt"; event: NostrEvent }
  /** Several receipts in their chain's order (when `welcome` said `receipt_batches`). */
  | { type: "receipts"; events: NostrEvent[] }
  /** One opaque line of a relayed answer, in order. */
  | { type: "relay_frame"; job_id: string; frame: string }
  /** The relayed answer ended: normally (`error` null) or refused/failed with the node's error. */
  | { type: "relay_close"; job_id: string; error: { code: string; message: string } | null };

/** The control plane's answer to one node receipt. */
export type ReceiptAnswer =
  | { type: "receipt_ok"; job_id: string; receipt_id: string }
  /** `head`: where the node's chain stands on the server; the next receipt follows it. */
  | {
    type: "receipt_refused";
    job_id: string | null;
    code: string;
    message: string;
    head: ReceiptHead | null;
  };

/** At most this many receipts share one `receipts` frame. */
export const MAX_RECEIPTS_PER_FRAME = 64;

/** The last receipt of a node's chain: its event id and seq. */
export interface ReceiptHead {
  id: string;
  seq: number;
}

const isStr = (x: unknown): x is string => typeof x === "string";
const isHead = (x: unknown): x is ReceiptHead =>
  isRecord(x) && isStr(x.id) && Number.isSafeInteger(x.seq) && (x.seq as number) >= 1;

const isRelayError = (x: unknown): boolean => isRecord(x) && isStr(x.code) && isStr(x.message);

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text);
    return isRecord(v) ? v : null;
  } catch {
    return null;
  }
}

/** Parses a frame a node sent; null when it is not a valid frame. */
export function parseNodeFrame(text: string): NodeFrame | null {
  const f = parseJson(text);
  if (!f) return null;
  switch (f.type) {
    case "auth":
      return isRecord(f.event) ? f as unknown as NodeFrame : null;
    case "pong":
      return typeof f.t === "number" ? f as unknown as NodeFrame : null;
    case "response":
      return isStr(f.job_id) && Number.isInteger(f.status) && isStr(f.body)
        ? f as unknown as NodeFrame
        : null;
    case "chunks":
      return isStr(f.job_id) && Array.isArray(f.data) && f.data.length > 0 && f.data.every(isStr)
        ? f as unknown as NodeFrame
        : null;
    case "end":
      return isStr(f.job_id) ? f as unknown as NodeFrame : null;
    case "fail":
      return isStr(f.job_id) && isStr(f.message) && isStr(f.code) && typeof f.started === "boolean"
        ? f as unknown as NodeFrame
        : null;
    case "receipt":
      return isRecord(f.event) ? f as unknown as NodeFrame : null;
    case "receipts":
      return Array.isArray(f.events) && f.events.length > 0 && f.events.length <= MAX_RECEIPTS_PER_FRAME &&
          f.events.every(isRecord)
        ? f as unknown as NodeFrame
        : null;
    case "relay_frame":
      return isStr(f.job_id) && isStr(f.frame) ? f as unknown as NodeFrame : null;
    case "relay_close":
      return isStr(f.job_id) && (f.error === null || isRelayError(f.error))
        ? f as unknown as NodeFrame
        : null;
    default:
      return null;
  }
}

/** Parses a frame the control plane sent; null when it is not a valid frame. */
export function parseServerFrame(text: string): ServerFrame | null {
  const f = parseJson(text);
  if (!f) return null;
  switch (f.type) {
    case "challenge":
      return isStr(f.challenge) ? f as unknown as ServerFrame : null;
    case "welcome":
      return isStr(f.pubkey) && (f.receipt_head == null || isHead(f.receipt_head))
        ? f as unknown as ServerFrame
        : null;
    case "job":
      return isStr(f.job_id) && (f.kind === "chat" || f.kind === "embeddings") &&
          typeof f.stream === "boolean" && isRecord(f.body)
        ? f as unknown as ServerFrame
        : null;
    case "cancel":
      return isStr(f.job_id) ? f as unknown as ServerFrame : null;
    case "relay_open":
      return isStr(f.job_id) && isRecord(f.header) ? f as unknown as ServerFrame : null;
    case "relay_frame":
      return isStr(f.job_id) && isStr(f.frame) ? f as unknown as ServerFrame : null;
    case "ticket":
      return isRecord(f.ticket) ? f as unknown as ServerFrame : null;
    case "ping":
      return typeof f.t === "number" ? f as unknown as ServerFrame : null;
    case "error":
      return isStr(f.message) ? f as unknown as ServerFrame : null;
    case "receipt_ok":
    case "receipt_refused":
      return isReceiptAnswer(f) ? f as unknown as ServerFrame : null;
    case "receipt_answers":
      return Array.isArray(f.answers) && f.answers.every(isReceiptAnswer)
        ? f as unknown as ServerFrame
        : null;
    default:
      return null;
  }
}

function isReceiptAnswer(f: unknown): boolean {
  if (!isRecord(f)) return false;
  if (f.type === "receipt_ok") return isStr(f.job_id) && isStr(f.receipt_id);
  return f.type === "receipt_refused" && isStr(f.code) && isStr(f.message) &&
    (f.head === null || isHead(f.head));
}

/** Heartbeat body (`POST /api/nodes/heartbeat`, NIP-98 signed), wire shape. */
export interface HeartbeatBody {
  node_id: string;
  load: number;
  free_slots: number;
  in_flight: number;
  models: string[];
}

const NATURAL = (name: string): JsonSchema => ({
  type: "integer",
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  errorMessage: `${name} must be an integer ≥ 0`,
});

/** The heartbeat body's schema (published in /openapi.json, compiled into {@link parseHeartbeat}). */
export const HEARTBEAT_SCHEMA: JsonSchema = {
  type: "object",
  title: "Heartbeat",
  required: ["node_id", "load", "free_slots", "in_flight", "models"],
  properties: {
    node_id: { type: "string", errorMessage: "node_id must be a string" },
    load: {
      type: "number",
      minimum: 0,
      description: "Jobs in flight over slots.",
      errorMessage: "load must be a number ≥ 0",
    },
    free_slots: NATURAL("free_slots"),
    in_flight: NATURAL("in_flight"),
    models: {
      type: "array",
      items: { type: "string" },
      description: "The models the engine serves now.",
      errorMessage: "models must be strings",
    },
  },
  errorMessage: "heartbeat body must be a JSON object",
};

const checkHeartbeat = compileSchema(HEARTBEAT_SCHEMA);

/** Validates a heartbeat body; returns a reason string when it is invalid. */
export function parseHeartbeat(raw: unknown): HeartbeatBody | string {
  const issue = checkHeartbeat(raw);
  return issue === null ? raw as HeartbeatBody : issue.message;
}
