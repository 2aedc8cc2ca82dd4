// The operator-key side of `/operator` (a session whose role is `operator`): the page, the payout
// address and payout forms (the same forms as a node's, acting on the operator's address and the
// sum of their nodes' earnings), and the JSON posts of the claim signer island (countersign,
// release). A payout form's one-time token is also the payout's request key, so a resent form
// pays nothing more even if the KV record of the token were gone.
import type { Hono } from "hono";
import {
  listOperatorClaims,
  listOperatorPayoutAddresses,
  listPayouts,
  operatorEarningsSummary,
  type PayoutRow,
  revokeClaim,
  setOperatorPayoutAddress,
} from "../../db/mod.ts";
import { type Coin, SUPPORTED_COINS, validatePayoutAddress, verifyRevocation } from "../../shared/mod.ts";
import type { AppContext, AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";
import { claimJson, claimStep, countersign } from "../api/operator_claims.ts";
import { NANO_USD_PER_CENT, requestOperatorPayout } from "../payments/payouts.ts";
import { payoutDepsOf, payoutThresholds } from "../payments/operator_payouts.ts";
import { randomHex } from "../auth/random_hex.ts";
import { chartDays } from "./earnings_chart_scale.ts";
import { type ClaimedNode, OperatorAccountPage, type OperatorAccountView } from "./OperatorAccountPage.tsx";
import { nodeHealth } from "./operator_routes.tsx";
import { sameOriginJson } from "./login_routes.tsx";
import { reputationOf } from "./reputation_view.ts";
import { renderPage } from "./render.ts";

const CHART_DAYS = 30;

/** What a refused form sends back into the page. */
export interface AccountExtras {
  notice?: OperatorAccountView["notice"];
  addressForm?: OperatorAccountView["addressForm"];
  payoutError?: string;
}

/** Renders the operator-key page for the session's operator. */
export async function operatorAccountPage(
  cp: ControlPlane,
  c: AppContext,
  extras: AccountExtras & { notice?: OperatorAccountView["notice"] } = {},
  status = 200,
): Promise<Response> {
  const pubkey = c.get("operatorPubkey");
  const sql = cp.db.sql;
  const now = new Date();
  await cp.recorder.flush();
  const [earnings, claims, addresses, payouts] = await Promise.all([
    operatorEarningsSummary(sql, pubkey, { days: CHART_DAYS, now }),
    listOperatorClaims(sql, pubkey),
    listOperatorPayoutAddresses(sql, pubkey),
    listPayouts(sql, pubkey, { limit: 50, payee: "operator" }),
  ]);
  const claimOf = new Map(claims.filter((k) => k.status === "active").map((k) => [k.nodePubkey, k]));
  const nodes: ClaimedNode[] = earnings.nodes.map((n) => {
    const live = cp.registry.get(n.nodePubkey);
    return {
      ...n,
      name: live?.record.name ?? null,
      state: live ? nodeHealth(live, now.getTime(), cp.config.nodeStaleMs).state : "offline",
      reputation: reputationOf(live),
      claim: claimOf.get(n.nodePubkey)!,
    };
  });
  const { minPayout, autoPayout } = payoutThresholds(cp.config);
  const view: OperatorAccountView = {
    pubkey,
    nodes,
    pending: claims.filter((k) => k.status === "pending"),
    earnings,
    payable: (earnings.pending / NANO_USD_PER_CENT) * NANO_USD_PER_CENT,
    minPayout,
    autoPayout,
    chart: chartDays(earnings.days, { today: now, days: CHART_DAYS }),
    addresses,
    payouts,
    coins: SUPPORTED_COINS,
    payoutToken: randomHex(16),
    notice: extras.notice,
    addressForm: extras.addressForm,
    payoutError: extras.payoutError,
  };
  return renderPage(c, <OperatorAccountPage {...view} />, status);
}

/** The operator's payouts (for the notice after a payout form). */
export function operatorPayouts(cp: ControlPlane, pubkey: string): Promise<PayoutRow[]> {
  return listPayouts(cp.db.sql, pubkey, { payee: "operator" });
}

/** Saves the operator's address for a coin (validated per chain); null when saved, else the reason. */
export async function saveOperatorAddress(
  cp: ControlPlane,
  a: { operatorPubkey: string; coin: Coin; address: string },
): Promise<string | null> {
  const check = validatePayoutAddress(a.coin, a.address);
  if (!check.ok) return check.reason;
  await setOperatorPayoutAddress(cp.db.sql, { ...a, address: check.address });
  return null;
}

/** Pays the operator's summed earnings; the form token is the request key. */
export function payOperator(cp: ControlPlane, pubkey: string, coin: Coin, token: string): Promise<PayoutRow> {
  return requestOperatorPayout(payoutDepsOf(cp), {
    operatorPubkey: pubkey,
    coin,
    automatic: false,
    requestKey: `operator_form:${pubkey}:${token}`,
  });
}

function operatorOnly(c: AppContext): string {
  if (c.get("sessionRole") !== "operator") {
    throw new HttpError(403, "Sign in with the operator key to countersign or release nodes.", {
      code: "invalid_request",
    });
  }
  return c.get("operatorPubkey");
}

async function eventOf(cp: ControlPlane, c: AppContext): Promise<unknown> {
  if (!sameOriginJson(cp, c)) {
    throw new HttpError(403, "Send this from the operator page itself (same-origin JSON).", {
      code: "invalid_request",
    });
  }
  const body = await c.req.json().catch(() => null) as { event?: unknown } | null;
  return body?.event;
}

/** Answers the island in JSON, errors included (a page path would render them as HTML). */
async function json(c: AppContext, step: () => Promise<unknown>): Promise<Response> {
  c.header("cache-control", "no-store");
  try {
    return c.json(await step());
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return c.json(
      { error: { message: err.message, type: "claim_error", code: err.code } },
      err.status as 400,
    );
  }
}

/** Mounts the island's JSON posts (behind the session middleware `/operator/*` already has). */
export function mountOperatorClaimRoutes(app: Hono<AppEnv>, cp: ControlPlane): void {
  app.post("/operator/claims/countersign", (c) =>
    json(c, async () => {
      const pubkey = operatorOnly(c);
      const row = await countersign(cp, await eventOf(cp, c), pubkey);
      return { claim: claimJson(row) };
    }));

  app.post("/operator/claims/revoke", (c) =>
    json(c, async () => {
      const pubkey = operatorOnly(c);
      const rev = verifyRevocation(await eventOf(cp, c));
      if (!rev.ok) {
        throw new HttpError(400, `revocation refused: ${rev.reason}`, { code: "claim_invalid" });
      }
      if (rev.value.pubkey !== pubkey) {
        throw new HttpError(403, "The revocation must be signed by the signed-in operator key.", {
          code: "invalid_request",
        });
      }
      const value = rev.value;
      const rows = await claimStep(() => revokeClaim(cp.db.sql, value));
      return { claims: rows.map(claimJson) };
    }));
}
