// NIP-01 event shape checks, done before any signature work so malformed input is cheap to reject.
import { type NostrEvent, verifyEvent } from "nostr-tools/pure";
import { compileSchema, type JsonSchema } from "../json_schema/validator.ts";

export type { NostrEvent };

const HEX64: JsonSchema = { type: "string", pattern: "^[0-9a-f]{64}$" };
const NATURAL: JsonSchema = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

/** A NIP-01 event's shape (published in /openapi.json, compiled into {@link parseEvent}). */
export const NOSTR_EVENT_SCHEMA: JsonSchema = {
  type: "object",
  title: "NostrEvent",
  description: "A signed Nostr event (NIP-01).",
  required: ["id", "pubkey", "sig", "kind", "created_at", "content", "tags"],
  properties: {
    id: HEX64,
    pubkey: HEX64,
    sig: { type: "string", pattern: "^[0-9a-f]{128}$" },
    kind: NATURAL,
    created_at: { ...NATURAL, description: "Unix seconds." },
    content: { type: "string" },
    tags: { type: "array", items: { type: "array", items: { type: "string" } } },
  },
};

const checkEvent = compileSchema(NOSTR_EVENT_SCHEMA);

/** Returns a fresh, well-formed NIP-01 event built from untrusted JSON, or null. */
export function parseEvent(raw: unknown): NostrEvent | null {
  if (checkEvent(raw) !== null) return null;
  const e = raw as NostrEvent;
  // A new object: a verification mark cached on the caller's object must never carry over.
  return {
    id: e.id,
    pubkey: e.pubkey,
    sig: e.sig,
    kind: e.kind,
    created_at: e.created_at,
    content: e.content,
    tags: e.tags.map((t) => [...t]),
  };
}

/**
 * Checks an event's id and signature (NIP-01): nostr-tools' pure `verifyEvent` by default, or a
 * faster backend with the same contract (its wasm one) where throughput matters.
 */
export type EventVerifier = (event: NostrEvent) => boolean;

/** Verifies the id and signature of an event that {@link parseEvent} produced. */
export function hasValidSignature(event: NostrEvent, verify: EventVerifier = verifyEvent): boolean {
  try {
    return verify(event);
  } catch {
    return false;
  }
}

/** The first value of the first tag named `name`, or undefined. */
export function tagValue(event: Pick<NostrEvent, "tags">, name: string): string | undefined {
  return event.tags.find((t) => t[0] === name)?.[1];
}

/** Seconds since the epoch, the unit of Nostr's `created_at`. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
