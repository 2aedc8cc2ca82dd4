// NIP-01 event shape checks, done before any signature work so malformed input is cheap to reject.
import { type NostrEvent, verifyEvent } from "nostr-tools/pure";

export type { NostrEvent };

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

/** Returns a fresh, well-formed NIP-01 event built from untrusted JSON, or null. */
export function parseEvent(raw: unknown): NostrEvent | null {
  if (typeof raw !== "object" || raw === null) return null;
  const e = raw as Record<string, unknown>;
  if (
    typeof e.id !== "string" || !HEX64.test(e.id) ||
    typeof e.pubkey !== "string" || !HEX64.test(e.pubkey) ||
    typeof e.sig !== "string" || !HEX128.test(e.sig) ||
    !Number.isSafeInteger(e.kind) || (e.kind as number) < 0 ||
    !Number.isSafeInteger(e.created_at) || (e.created_at as number) < 0 ||
    typeof e.content !== "string" || !Array.isArray(e.tags) ||
    !e.tags.every((t) => Array.isArray(t) && t.every((v) => typeof v === "string"))
  ) return null;
  // A new object: a verification mark cached on the caller's object must never carry over.
  return {
    id: e.id,
    pubkey: e.pubkey,
    sig: e.sig,
    kind: e.kind as number,
    created_at: e.created_at as number,
    content: e.content,
    tags: (e.tags as string[][]).map((t) => [...t]),
  };
}

/** Verifies the id and signature of an event that {@link parseEvent} produced. */
export function hasValidSignature(event: NostrEvent): boolean {
  try {
    return verifyEvent(event);
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
