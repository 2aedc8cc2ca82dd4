// Device-code login (the shape of RFC 8628, approved by the node key instead of a password):
// `infernet login` starts a pending login, a browser claims it with the user code, the same node
// key approves (or denies) that browser, and the browser then exchanges the approval for a
// session, once. All state is in the shared state (web/state/: the local Deno KV on one machine,
// PostgreSQL for several instances) with an expiry, so every instance agrees; every transition is
// an atomic check-and-set on the record's versionstamp.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { randomHex } from "./random_hex.ts";
import type { StateKv } from "../state/state_kv.ts";

/** How long a started login can be claimed and approved. */
export const DEVICE_LOGIN_TTL_MS = 10 * 60_000;

/** Seconds the CLI waits between polls. */
export const DEVICE_POLL_INTERVAL_S = 2;

/** RFC 8628 §6.1's alphabet: consonants only, no look-alikes, no words. */
export const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";

const USER_CODE_LENGTH = 8;
const DEVICE = "login_device";
const USER_CODE = "login_user_code";
const BROWSER = "login_browser";

/** Where a login is. `expired` is computed from the clock, never stored. */
export type DeviceLoginStatus = "pending" | "claimed" | "approved" | "denied" | "complete" | "expired";

/** The browser that entered the user code, as the operator is shown it before approving. */
export interface DeviceClaim {
  browserHash: string;
  address: string;
  userAgent: string;
  claimedAtMs: number;
}

/** One login, as stored under `["login_device", deviceCode]`. */
export interface DeviceLogin {
  deviceCode: string;
  userCode: string;
  pubkey: string;
  createdAtMs: number;
  expiresAtMs: number;
  status: Exclude<DeviceLoginStatus, "expired">;
  claim: DeviceClaim | null;
}

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** A new user code (8 characters of {@link USER_CODE_ALPHABET}, unbiased). */
export function newUserCode(): string {
  const n = USER_CODE_ALPHABET.length;
  const limit = 256 - (256 % n);
  let code = "";
  for (let round = 0; code.length < USER_CODE_LENGTH && round < 64; round++) {
    for (const b of randomBytes(16)) {
      if (b < limit && code.length < USER_CODE_LENGTH) code += USER_CODE_ALPHABET[b % n];
    }
  }
  return code;
}

/** `BCDFGHJK` → `BCDF-GHJK`, the way people read and type it. */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** Typed input → a stored code (upper case, dashes and spaces dropped), or null when it cannot be one. */
export function normalizeUserCode(input: string): string | null {
  const code = input.toUpperCase().replace(/[\s-]/g, "");
  if (code.length !== USER_CODE_LENGTH) return null;
  for (const ch of code) if (!USER_CODE_ALPHABET.includes(ch)) return null;
  return code;
}

/** The hash under which a browser's random login cookie is kept (the cookie itself is not stored). */
export function browserHash(token: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(token)));
}

/** A fresh random browser token for the login cookie. */
export function newBrowserToken(): string {
  return randomHex(32);
}

/** The login's status at `nowMs`. */
export function statusAt(login: DeviceLogin, nowMs = Date.now()): DeviceLoginStatus {
  if (login.status === "complete") return "complete";
  return nowMs >= login.expiresAtMs ? "expired" : login.status;
}

function ttlLeft(login: DeviceLogin, nowMs: number): number {
  // Kept a minute past expiry so a late poll is told "expired" rather than "unknown".
  return Math.max(1_000, login.expiresAtMs - nowMs + 60_000);
}

/** Starts a pending login for a node key. */
export async function startDeviceLogin(
  kv: StateKv,
  pubkey: string,
  opts: { nowMs?: number; ttlMs?: number } = {},
): Promise<DeviceLogin> {
  const nowMs = opts.nowMs ?? Date.now();
  for (let attempt = 0; attempt < 5; attempt++) {
    const login: DeviceLogin = {
      deviceCode: randomHex(32),
      userCode: newUserCode(),
      pubkey,
      createdAtMs: nowMs,
      expiresAtMs: nowMs + (opts.ttlMs ?? DEVICE_LOGIN_TTL_MS),
      status: "pending",
      claim: null,
    };
    const expireIn = ttlLeft(login, nowMs);
    // A user code is unique among live logins; a collision draws again.
    const res = await kv.atomic()
      .check({ key: [USER_CODE, login.userCode], versionstamp: null })
      .set([DEVICE, login.deviceCode], login, { expireIn })
      .set([USER_CODE, login.userCode], login.deviceCode, { expireIn })
      .commit();
    if (res.ok) return login;
  }
  throw new Error("could not draw a free user code");
}

/** A login by its device code (the CLI's handle), or null. */
export async function getDeviceLogin(
  kv: StateKv,
  deviceCode: string,
): Promise<Deno.KvEntryMaybe<DeviceLogin>> {
  return await kv.get<DeviceLogin>([DEVICE, deviceCode]);
}

/** Why a browser's claim failed. */
export type ClaimResult =
  | { ok: true; login: DeviceLogin }
  | { ok: false; reason: "unknown" | "expired" | "used" };

/** Binds a pending login to the browser holding `token` (its first claim wins; the code is then spent). */
export async function claimDeviceLogin(
  kv: StateKv,
  userCode: string,
  browser: { token: string; address: string; userAgent: string },
  nowMs = Date.now(),
): Promise<ClaimResult> {
  const index = await kv.get<string>([USER_CODE, userCode]);
  if (typeof index.value !== "string") return { ok: false, reason: "unknown" };
  const entry = await getDeviceLogin(kv, index.value);
  if (!entry.value) return { ok: false, reason: "unknown" };
  const status = statusAt(entry.value, nowMs);
  if (status === "expired") return { ok: false, reason: "expired" };
  if (status !== "pending") return { ok: false, reason: "used" };
  const hash = browserHash(browser.token);
  const login: DeviceLogin = {
    ...entry.value,
    status: "claimed",
    claim: {
      browserHash: hash,
      address: browser.address,
      userAgent: browser.userAgent.slice(0, 300),
      claimedAtMs: nowMs,
    },
  };
  const expireIn = ttlLeft(login, nowMs);
  const res = await kv.atomic()
    .check(entry)
    .set([DEVICE, login.deviceCode], login, { expireIn })
    .set([BROWSER, hash], login.deviceCode, { expireIn })
    .commit();
  return res.ok ? { ok: true, login } : { ok: false, reason: "used" };
}

/** Why an approval or denial failed. */
export type DecideResult =
  | { ok: true; login: DeviceLogin }
  | { ok: false; reason: "unknown" | "expired" | "forbidden" | "not_claimed" | "decided" };

/** The node key's decision on the claiming browser; only the key that started the login may decide. */
export async function decideDeviceLogin(
  kv: StateKv,
  deviceCode: string,
  pubkey: string,
  approve: boolean,
  nowMs = Date.now(),
): Promise<DecideResult> {
  const entry = await getDeviceLogin(kv, deviceCode);
  if (!entry.value) return { ok: false, reason: "unknown" };
  if (entry.value.pubkey !== pubkey) return { ok: false, reason: "forbidden" };
  const status = statusAt(entry.value, nowMs);
  if (status === "expired") return { ok: false, reason: "expired" };
  if (status === "pending") return { ok: false, reason: "not_claimed" };
  if (status !== "claimed") return { ok: false, reason: "decided" };
  const login: DeviceLogin = { ...entry.value, status: approve ? "approved" : "denied" };
  const res = await kv.atomic()
    .check(entry)
    .set([DEVICE, deviceCode], login, { expireIn: ttlLeft(login, nowMs) })
    .commit();
  return res.ok ? { ok: true, login } : { ok: false, reason: "decided" };
}

/** The login a browser's cookie token is bound to, or null. */
export async function loginOfBrowser(
  kv: StateKv,
  token: string,
): Promise<Deno.KvEntryMaybe<DeviceLogin> | null> {
  const index = await kv.get<string>([BROWSER, browserHash(token)]);
  if (typeof index.value !== "string") return null;
  const entry = await getDeviceLogin(kv, index.value);
  return entry.value?.claim?.browserHash === browserHash(token) ? entry : null;
}

/**
 * Spends an approved login for the browser holding `token`: returns the node key to start a
 * session for, exactly once; null when it is not (or no longer) approved for this browser.
 */
export async function completeDeviceLogin(
  kv: StateKv,
  token: string,
  nowMs = Date.now(),
): Promise<string | null> {
  const entry = await loginOfBrowser(kv, token);
  if (!entry?.value || statusAt(entry.value, nowMs) !== "approved") return null;
  const login: DeviceLogin = { ...entry.value, status: "complete" };
  const res = await kv.atomic()
    .check(entry)
    .set([DEVICE, login.deviceCode], login, { expireIn: ttlLeft(login, nowMs) })
    .delete([BROWSER, browserHash(token)])
    .commit();
  return res.ok ? login.pubkey : null;
}
