// Rate limits of the login endpoints (token buckets in the shared state, so they hold across
// instances when it is PostgreSQL; in memory on one machine): starting a
// device login per address and per node key, typing user codes per address (so the 20^8 code
// space cannot be walked), Nostr sign-in attempts per address, and consumers' API key sign-ins on
// the account page per address.
import { isOperator } from "../../db/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import type { SessionRole } from "./session.ts";
import type { Limiter } from "../rate_limit.ts";

/** The limiters one control plane uses for logins. */
export interface LoginLimiters {
  startPerAddress: Limiter;
  startPerKey: Limiter;
  codePerAddress: Limiter;
  nostrPerAddress: Limiter;
  accountPerAddress: Limiter;
}

/** Bursts and refill rates; a code attempt is refilled every 30 s after a burst of 10. */
export const LOGIN_LIMITS = {
  startPerAddress: { burst: 20, ratePerSec: 1 / 30 },
  startPerKey: { burst: 5, ratePerSec: 1 / 60 },
  codePerAddress: { burst: 10, ratePerSec: 1 / 30 },
  nostrPerAddress: { burst: 20, ratePerSec: 1 / 30 },
  accountPerAddress: { burst: 20, ratePerSec: 1 / 30 },
} as const;

const limiters = new WeakMap<ControlPlane, LoginLimiters>();

/** The control plane's login limiters (created on first use). */
export function loginLimiters(cp: ControlPlane): LoginLimiters {
  let l = limiters.get(cp);
  if (!l) {
    l = {
      startPerAddress: cp.state.limiter("login_start_address", LOGIN_LIMITS.startPerAddress),
      startPerKey: cp.state.limiter("login_start_key", LOGIN_LIMITS.startPerKey),
      codePerAddress: cp.state.limiter("login_code_address", LOGIN_LIMITS.codePerAddress),
      nostrPerAddress: cp.state.limiter("login_nostr_address", LOGIN_LIMITS.nostrPerAddress),
      accountPerAddress: cp.state.limiter("login_account_address", LOGIN_LIMITS.accountPerAddress),
    };
    limiters.set(cp, l);
  }
  return l;
}

/** Whether a node key may sign in to the dashboard: it must be registered (KV, seen by every instance). */
export async function isRegisteredNode(cp: ControlPlane, pubkey: string): Promise<boolean> {
  if (cp.registry.get(pubkey)) return true;
  return (await cp.kv.get(["nodes", pubkey])).versionstamp !== null;
}

/**
 * The session a key gets when it signs in: `operator` when a node's claim names it (pending or
 * active, so an operator can sign in to countersign), else `node` when it is a registered node,
 * else null (refused).
 */
export async function loginRoleOf(cp: ControlPlane, pubkey: string): Promise<SessionRole | null> {
  if (await isOperator(cp.db.sql, pubkey)) return "operator";
  return await isRegisteredNode(cp, pubkey) ? "node" : null;
}
