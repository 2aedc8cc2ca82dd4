// The check every direct-mode event shares (usage acks, model keys): a signed Nostr event of one
// kind whose content is canonical JSON with exactly the expected fields, each valid.
import type { NostrEvent } from "nostr-tools/pure";
import { type EventVerifier, hasValidSignature, parseEvent } from "../nostr/event.ts";
import { isRecord } from "../json/is_record.ts";
import { canonicalJson, type CanonicalValue } from "../receipts/canonical_json.ts";

/** A field check per content field. */
export type FieldChecks<T> = Record<keyof T, (v: unknown) => boolean>;

/** The outcome of {@link checkCanonicalEvent}: the event and its typed content, or why not. */
export type CanonicalCheck<T> =
  | { ok: true; event: NostrEvent; content: T }
  | { ok: false; code: "invalid" | "forged"; reason: string };

/** Lower-case hex of 32 bytes (a pubkey, an event id, a SHA-256). */
export const HEX64 = /^[0-9a-f]{64}$/;

/** Whether `v` is a safe integer ≥ 0. */
export const isNat = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** Whether `v` is lower-case hex of 32 bytes. */
export const isHex64 = (v: unknown): boolean => typeof v === "string" && HEX64.test(v);

/** Whether `v` is a non-empty string of at most `max` characters. */
export const isText = (max: number) => (v: unknown): boolean =>
  typeof v === "string" && v.length > 0 && v.length <= max;

/** Checks kind, signature (by `verify`, default nostr-tools' pure one) and content of an untrusted event. Never throws. */
export function checkCanonicalEvent<T>(
  raw: unknown,
  kind: number,
  fields: FieldChecks<T>,
  verify?: EventVerifier,
): CanonicalCheck<T> {
  const event = parseEvent(raw);
  if (!event || event.kind !== kind) {
    return { ok: false, code: "invalid", reason: `not a kind ${kind} event` };
  }
  if (!hasValidSignature(event, verify)) {
    return { ok: false, code: "forged", reason: "the signature is wrong" };
  }
  let c: unknown;
  try {
    c = JSON.parse(event.content);
  } catch {
    return { ok: false, code: "invalid", reason: "the content is not JSON" };
  }
  if (!isRecord(c)) return { ok: false, code: "invalid", reason: "the content is not an object" };
  for (const [name, check] of Object.entries(fields) as [string, (v: unknown) => boolean][]) {
    if (!check(c[name])) return { ok: false, code: "invalid", reason: `${name} is missing or invalid` };
  }
  if (
    Object.keys(c).length !== Object.keys(fields).length ||
    canonicalJson(c as CanonicalValue) !== event.content
  ) {
    return { ok: false, code: "invalid", reason: "the content is not canonical" };
  }
  if ((c as { created_at?: unknown }).created_at !== event.created_at) {
    return { ok: false, code: "invalid", reason: "created_at differs from the event's" };
  }
  return { ok: true, event, content: c as T };
}
