// The CLI's side of the device-code login (all NIP-98, signed by the node key): start a login,
// poll it, approve or deny the browser that claimed it. snake_case on the wire. See
// docs/protocol.md, "Dashboard login".
import type { Hono } from "hono";
import type { AppContext, AppEnv } from "../app_env.ts";
import { compileSchema, type JsonSchema } from "../../shared/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";
import {
  decideDeviceLogin,
  DEVICE_POLL_INTERVAL_S,
  type DeviceLogin,
  formatUserCode,
  getDeviceLogin,
  startDeviceLogin,
  statusAt,
} from "../auth/device_login.ts";
import { loginLimiters, loginRoleOf } from "../auth/login_limits.ts";
import { clientAddress } from "./keys.ts";
import { nip98Auth, verifiedJson } from "./nodes/nip98_auth.ts";

function limited(c: AppContext, wait: number, what: string): never {
  c.header("retry-after", String(wait));
  throw new HttpError(429, `Too many login attempts ${what}; retry in ${wait} s.`, { code: "rate_limited" });
}

/** The dashboard's base URL as the browser should see it. */
export function publicBase(cp: ControlPlane, req: Request): string {
  return cp.config.publicUrl ?? new URL(req.url).origin;
}

const DEVICE_CODE: JsonSchema = { type: "string", pattern: "^[0-9a-f]{64}$" };

/** `POST /api/login/device/poll`'s body (published in /openapi.json). */
export const DEVICE_POLL_SCHEMA: JsonSchema = {
  type: "object",
  title: "DeviceLoginPoll",
  required: ["device_code"],
  properties: { device_code: DEVICE_CODE },
};

/** `POST /api/login/device/decision`'s body (published in /openapi.json). */
export const DEVICE_DECISION_SCHEMA: JsonSchema = {
  type: "object",
  title: "DeviceLoginDecision",
  required: ["device_code", "approve"],
  properties: { device_code: DEVICE_CODE, approve: { type: "boolean" } },
};

const checkPoll = compileSchema(DEVICE_POLL_SCHEMA);
const checkDecision = compileSchema(DEVICE_DECISION_SCHEMA);

function deviceCodeOf(c: AppContext, check = checkPoll): string {
  const body = verifiedJson(c);
  const issue = check(body);
  if (issue !== null && issue.param !== "approve") {
    throw new HttpError(400, "device_code must be the code this login started with", {
      code: "invalid_request",
      param: "device_code",
    });
  }
  return (body as { device_code: string }).device_code;
}

/** The login of `device_code` if the signing node started it; else 404 or 403. */
async function ownLogin(cp: ControlPlane, c: AppContext, deviceCode: string): Promise<DeviceLogin> {
  const { value } = await getDeviceLogin(cp.state.kv, deviceCode);
  if (!value) throw new HttpError(404, "Unknown or expired device code.", { code: "not_found" });
  if (value.pubkey !== c.get("nodePubkey")) {
    throw new HttpError(403, "This login was started by another node key.", { code: "nip98_invalid" });
  }
  return value;
}

function loginJson(login: DeviceLogin, nowMs = Date.now()) {
  return {
    status: statusAt(login, nowMs),
    expires_in: Math.max(0, Math.ceil((login.expiresAtMs - nowMs) / 1000)),
    browser: login.claim
      ? {
        address: login.claim.address,
        user_agent: login.claim.userAgent,
        claimed_at: new Date(login.claim.claimedAtMs).toISOString(),
      }
      : null,
  };
}

/** Mounts `/api/login/device`, `/api/login/device/poll` and `/api/login/device/decision`. */
export function mountLoginApi(app: Hono<AppEnv>, cp: ControlPlane): void {
  const auth = nip98Auth(cp);
  const limits = loginLimiters(cp);

  app.post("/api/login/device", auth, async (c) => {
    const pubkey = c.get("nodePubkey");
    const byAddress = await limits.startPerAddress.take(clientAddress(c));
    if (byAddress > 0) limited(c, byAddress, "from this address");
    const byKey = await limits.startPerKey.take(pubkey);
    if (byKey > 0) limited(c, byKey, "for this node key");
    if (!await loginRoleOf(cp, pubkey)) {
      throw new HttpError(403, "This node key is not registered here; run 'infernet register' first.", {
        code: "node_not_registered",
      });
    }
    const login = await startDeviceLogin(cp.state.kv, pubkey);
    const uri = `${publicBase(cp, c.req.raw)}/login/device`;
    const userCode = formatUserCode(login.userCode);
    c.header("cache-control", "no-store");
    return c.json({
      device_code: login.deviceCode,
      user_code: userCode,
      verification_uri: uri,
      verification_uri_complete: `${uri}?code=${userCode}`,
      expires_in: Math.round((login.expiresAtMs - login.createdAtMs) / 1000),
      interval: DEVICE_POLL_INTERVAL_S,
    }, 201);
  });

  app.post("/api/login/device/poll", auth, async (c) => {
    const login = await ownLogin(cp, c, deviceCodeOf(c));
    c.header("cache-control", "no-store");
    return c.json(loginJson(login));
  });

  app.post("/api/login/device/decision", auth, async (c) => {
    const deviceCode = deviceCodeOf(c, checkDecision);
    const approve = (verifiedJson(c) as { approve?: unknown }).approve;
    if (typeof approve !== "boolean") {
      throw new HttpError(400, "approve must be true or false", {
        code: "invalid_request",
        param: "approve",
      });
    }
    await ownLogin(cp, c, deviceCode);
    const result = await decideDeviceLogin(cp.state.kv, deviceCode, c.get("nodePubkey"), approve);
    if (!result.ok) {
      const [status, message] = {
        unknown: [404, "Unknown or expired device code."],
        forbidden: [403, "This login was started by another node key."],
        expired: [410, "This login expired; run 'infernet login' again."],
        not_claimed: [409, "No browser has entered the code yet."],
        decided: [409, "This login was already approved or denied."],
      }[result.reason] as [number, string];
      throw new HttpError(status, message, {
        code: status === 403 ? "nip98_invalid" : status === 404 ? "not_found" : "invalid_request",
      });
    }
    return c.json(loginJson(result.login));
  });
}
