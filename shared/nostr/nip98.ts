// NIP-98 HTTP Auth: https://github.com/nostr-protocol/nips/blob/master/98.md
// `Authorization: Nostr <base64(event)>`, kind 27235, tags `u` (absolute URL), `method`, `payload`.
import { finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { base64 } from "@scure/base";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { hasValidSignature, nowSeconds, parseEvent, tagValue } from "./event.ts";

/** The event kind NIP-98 reserves for HTTP auth. */
export const NIP98_KIND = 27235;

/** How far `created_at` may be from the server's clock, in seconds. */
export const NIP98_TOLERANCE_SEC = 60;

declare const verifiedNip98: unique symbol;

/** A NIP-98 event whose signature, URL, method, payload and time were all checked. */
export type VerifiedNip98Event = NostrEvent & { readonly [verifiedNip98]: true };

/** The outcome of {@link verifyNip98}: never throws, always says why it failed. */
export type Nip98Result =
  | { ok: true; event: VerifiedNip98Event; pubkey: string }
  | { ok: false; reason: string };

/** What the server saw of the request being authorised. */
export interface Nip98Request {
  url: string;
  method: string;
  body: Uint8Array;
  nowSec?: number;
  toleranceSec?: number;
}

const encoder = new TextEncoder();

/** The lower-case hex sha256 of a body, as NIP-98's `payload` tag carries it. */
export function payloadHash(body: Uint8Array | string): string {
  return bytesToHex(sha256(typeof body === "string" ? encoder.encode(body) : body));
}

/**
 * Builds the `Authorization` header value for one request.
 * @example fetch(url, { method: "POST", body, headers: { authorization: createNip98Header(sk, url, "POST", body) } })
 */
export function createNip98Header(
  secretKey: Uint8Array,
  url: string,
  method: string,
  body: Uint8Array | string = "",
  createdAt = nowSeconds(),
): string {
  const event = finalizeEvent({
    kind: NIP98_KIND,
    created_at: createdAt,
    content: "",
    // A random nonce tag (NIP-98 allows extra tags): two identical requests signed in the same
    // second are then two events, so the second is not refused as a replay of the first.
    tags: [
      ["u", url],
      ["method", method.toUpperCase()],
      ["payload", payloadHash(body)],
      ["nonce", bytesToHex(crypto.getRandomValues(new Uint8Array(8)))],
    ],
  }, secretKey);
  return "Nostr " + base64.encode(encoder.encode(JSON.stringify(event)));
}

function decodeHeader(header: string | null | undefined): unknown {
  if (!header) return undefined;
  const match = /^Nostr\s+([A-Za-z0-9+/=_-]+)\s*$/.exec(header);
  if (!match) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(base64.decode(match[1])));
  } catch {
    return undefined;
  }
}

/**
 * Checks an `Authorization` header against the request the server received.
 * Replay protection is the caller's: remember `event.id` for twice the tolerance.
 */
export function verifyNip98(header: string | null | undefined, req: Nip98Request): Nip98Result {
  if (!header) return { ok: false, reason: "missing Authorization header (NIP-98 required)" };
  const raw = decodeHeader(header);
  if (raw === undefined) {
    return { ok: false, reason: "Authorization must be 'Nostr <base64 event>'" };
  }
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "malformed Nostr event" };
  if (event.kind !== NIP98_KIND) return { ok: false, reason: `event kind must be ${NIP98_KIND}` };
  const now = req.nowSec ?? nowSeconds();
  const tolerance = req.toleranceSec ?? NIP98_TOLERANCE_SEC;
  if (Math.abs(now - event.created_at) > tolerance) {
    return { ok: false, reason: `stale event: created_at is more than ${tolerance}s from server time` };
  }
  if (tagValue(event, "u") !== req.url) {
    return { ok: false, reason: `u tag does not match the request URL (${req.url})` };
  }
  if (tagValue(event, "method")?.toUpperCase() !== req.method.toUpperCase()) {
    return { ok: false, reason: `method tag does not match ${req.method.toUpperCase()}` };
  }
  const payload = tagValue(event, "payload");
  // NIP-98 makes `payload` optional; a body we would act on must be bound to the signature.
  if (payload === undefined && req.body.length > 0) {
    return { ok: false, reason: "payload tag is required for a request with a body" };
  }
  if (payload !== undefined && payload.toLowerCase() !== payloadHash(req.body)) {
    return { ok: false, reason: "payload tag does not match the sha256 of the body" };
  }
  if (!hasValidSignature(event)) return { ok: false, reason: "invalid event id or signature" };
  return { ok: true, event: event as VerifiedNip98Event, pubkey: event.pubkey };
}
