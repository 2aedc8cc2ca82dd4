// "Sign in with Nostr" (NIP-07): the server hands out a one-time challenge (shared state, 5 min); the
// browser's extension signs a kind-27235 event (NIP-98's kind, so extensions already describe it
// as HTTP auth) with tags `u` (the login URL), `method` POST and `challenge`; the server checks
// the event as received (fresh object, then signature), its kind, URL, method and time, and
// spends the challenge once. Whether the key may log in (a registered node) is the caller's call.
import {
  hasValidSignature,
  NIP98_KIND,
  NIP98_TOLERANCE_SEC,
  parseEvent,
  tagValue,
} from "../../shared/mod.ts";
import { randomHex } from "./random_hex.ts";
import type { StateKv } from "../state/state_kv.ts";

/** How long a challenge may be used. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

/** The event kind a login event must have (NIP-98 HTTP auth). */
export const NOSTR_LOGIN_KIND = NIP98_KIND;

const CHALLENGE = "login_challenge";

/** Issues a one-time challenge (32 random bytes, hex). */
export async function issueChallenge(kv: StateKv): Promise<string> {
  const challenge = randomHex(32);
  await kv.set([CHALLENGE, challenge], true, { expireIn: CHALLENGE_TTL_MS });
  return challenge;
}

/** The outcome of {@link verifyNostrLogin}: never throws, says why it failed. */
export type NostrLoginResult = { ok: true; pubkey: string } | { ok: false; reason: string };

/** Verifies a login event against the login URL; a correctly signed event spends its challenge. */
export async function verifyNostrLogin(
  kv: StateKv,
  raw: unknown,
  expect: { url: string; nowSec?: number },
): Promise<NostrLoginResult> {
  // parseEvent copies into a fresh object: a verification mark nostr-tools cached on the
  // sender's object can never carry over.
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "malformed Nostr event" };
  if (event.kind !== NOSTR_LOGIN_KIND) return { ok: false, reason: `event kind must be ${NOSTR_LOGIN_KIND}` };
  const now = expect.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - event.created_at) > NIP98_TOLERANCE_SEC) {
    return {
      ok: false,
      reason: `stale event: created_at is more than ${NIP98_TOLERANCE_SEC}s from server time`,
    };
  }
  if (tagValue(event, "u") !== expect.url) return { ok: false, reason: `u tag must be ${expect.url}` };
  if (tagValue(event, "method")?.toUpperCase() !== "POST") {
    return { ok: false, reason: "method tag must be POST" };
  }
  const challenge = tagValue(event, "challenge");
  if (!challenge || !/^[0-9a-f]{64}$/.test(challenge)) return { ok: false, reason: "challenge tag missing" };
  if (!hasValidSignature(event)) return { ok: false, reason: "invalid event id or signature" };
  // Spent atomically: of two requests with the same challenge, one wins.
  const entry = await kv.get([CHALLENGE, challenge]);
  if (entry.versionstamp === null) return { ok: false, reason: "unknown, expired or already used challenge" };
  const spent = await kv.atomic().check(entry).delete([CHALLENGE, challenge]).commit();
  if (!spent.ok) return { ok: false, reason: "unknown, expired or already used challenge" };
  return { ok: true, pubkey: event.pubkey };
}
