// Job-socket authentication, after NIP-42 (https://github.com/nostr-protocol/nips/blob/master/42.md):
// the server sends a random challenge, the node answers with a signed kind-22242 event carrying
// `relay` (the socket URL) and `challenge` tags.
import { finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { bytesToHex } from "@noble/hashes/utils.js";
import { hasValidSignature, nowSeconds, parseEvent, tagValue } from "./event.ts";

/** NIP-42's client authentication kind. */
export const NIP42_KIND = 22242;

/** A fresh random challenge (32 bytes, hex). */
export function createChallenge(): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
}

/** Signs the answer to a socket challenge. */
export function createAuthEvent(
  secretKey: Uint8Array,
  socketUrl: string,
  challenge: string,
  createdAt = nowSeconds(),
): NostrEvent {
  return finalizeEvent({
    kind: NIP42_KIND,
    created_at: createdAt,
    content: "",
    tags: [["relay", socketUrl], ["challenge", challenge]],
  }, secretKey);
}

/** The outcome of {@link verifyAuthEvent}. */
export type SocketAuthResult = { ok: true; pubkey: string } | { ok: false; reason: string };

/** Checks a challenge answer: kind, challenge, socket host, time window and signature. */
export function verifyAuthEvent(
  raw: unknown,
  expect: { challenge: string; host: string; nowSec?: number; toleranceSec?: number },
): SocketAuthResult {
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "malformed Nostr event" };
  if (event.kind !== NIP42_KIND) return { ok: false, reason: `auth event kind must be ${NIP42_KIND}` };
  if (tagValue(event, "challenge") !== expect.challenge) {
    return { ok: false, reason: "challenge does not match" };
  }
  let host: string | undefined;
  try {
    host = new URL(tagValue(event, "relay") ?? "").host;
  } catch {
    host = undefined;
  }
  if (host !== expect.host) return { ok: false, reason: `relay tag must name this server (${expect.host})` };
  const tolerance = expect.toleranceSec ?? 60;
  if (Math.abs((expect.nowSec ?? nowSeconds()) - event.created_at) > tolerance) {
    return { ok: false, reason: `stale event: created_at is more than ${tolerance}s from server time` };
  }
  if (!hasValidSignature(event)) return { ok: false, reason: "invalid event id or signature" };
  return { ok: true, pubkey: event.pubkey };
}
