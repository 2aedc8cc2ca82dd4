// Frames on the node's job socket (`GET /api/nodes/ws`), one JSON object per text frame.
// docs/protocol.md is the reference for node implementers; keep the two in step.
import type { NostrEvent } from "nostr-tools/pure";
import { isRecord } from "../json/is_record.ts";

/** What a job asks the engine for. */
export type JobKind = "chat" | "embeddings";

/** Control plane → node frames. */
export type ServerFrame =
  | { type: "challenge"; challenge: string }
  | { type: "welcome"; pubkey: string; ping_interval_ms: number }
  | { type: "job"; job_id: string; kind: JobKind; stream: boolean; body: Record<string, unknown> }
  | { type: "cancel"; job_id: string; reason: string }
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
  | { type: "fail"; job_id: string; message: string; code: string; started: boolean };

const isStr = (x: unknown): x is string => typeof x === "string";

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
      return isStr(f.pubkey) ? f as unknown as ServerFrame : null;
    case "job":
      return isStr(f.job_id) && (f.kind === "chat" || f.kind === "embeddings") &&
          typeof f.stream === "boolean" && isRecord(f.body)
        ? f as unknown as ServerFrame
        : null;
    case "cancel":
      return isStr(f.job_id) ? f as unknown as ServerFrame : null;
    case "ping":
      return typeof f.t === "number" ? f as unknown as ServerFrame : null;
    case "error":
      return isStr(f.message) ? f as unknown as ServerFrame : null;
    default:
      return null;
  }
}

/** Heartbeat body (`POST /api/nodes/heartbeat`, NIP-98 signed), wire shape. */
export interface HeartbeatBody {
  node_id: string;
  load: number;
  free_slots: number;
  in_flight: number;
  models: string[];
}

/** Validates a heartbeat body; returns a reason string when it is invalid. */
export function parseHeartbeat(raw: unknown): HeartbeatBody | string {
  if (!isRecord(raw)) return "heartbeat body must be a JSON object";
  const nat = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!isStr(raw.node_id)) return "node_id must be a string";
  if (typeof raw.load !== "number" || !(raw.load >= 0)) return "load must be a number ≥ 0";
  if (!nat(raw.free_slots)) return "free_slots must be an integer ≥ 0";
  if (!nat(raw.in_flight)) return "in_flight must be an integer ≥ 0";
  if (!Array.isArray(raw.models) || !raw.models.every(isStr)) return "models must be strings";
  return raw as unknown as HeartbeatBody;
}
