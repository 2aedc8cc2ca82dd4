// The operator's money over the node API (all NIP-98): payout addresses, payouts and earnings.
// snake_case on the wire; USD amounts as decimal strings (never floats).
import type { Hono } from "hono";
import { earningsSummary, listPayoutAddresses, listPayouts, type PayoutRow } from "../../../db/mod.ts";
import { compileSchema, formatUsd, isCoin, type JsonSchema, SUPPORTED_COINS } from "../../../shared/mod.ts";
import type { AppContext, AppEnv } from "../../app_env.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { PayoutRequestError, requestPayout } from "../../payments/payouts.ts";
import { payoutDepsOf, payoutThresholds, savePayoutAddress } from "../../payments/operator_payouts.ts";
import { nip98Auth, verifiedJson } from "./nip98_auth.ts";

/** A payout as the node API shows it. */
export function payoutJson(p: PayoutRow) {
  return {
    id: Number(p.id),
    coin: p.coin,
    address: p.address,
    amount_usd: formatUsd(p.amount),
    usd_per_unit: p.usdPerUnit,
    crypto_amount: p.cryptoAmount,
    status: p.status,
    tx_hash: p.txHash,
    error: p.error,
    automatic: p.automatic,
    created_at: p.createdAt.toISOString(),
    finished_at: p.finishedAt?.toISOString() ?? null,
  };
}

function objectBody(c: AppContext): Record<string, unknown> {
  if ((c.get("rawBody") as Uint8Array).length === 0) return {};
  const body = verifiedJson(c);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "body must be a JSON object", { code: "invalid_request" });
  }
  return body as Record<string, unknown>;
}

function parseCoin(value: unknown) {
  if (isCoin(value)) return value;
  throw new HttpError(
    400,
    `coin must be one of ${SUPPORTED_COINS.join(", ")}${
      value === undefined ? "" : `; got ${JSON.stringify(value)}`
    }`,
    { code: "invalid_request", param: "coin" },
  );
}

/** `POST /api/nodes/payout-address`'s body (published in /openapi.json). */
export const PAYOUT_ADDRESS_SCHEMA: JsonSchema = {
  type: "object",
  title: "PayoutAddressRequest",
  required: ["coin", "address"],
  properties: {
    coin: { enum: SUPPORTED_COINS },
    address: {
      type: "string",
      description: "Checked per chain (checksum, alphabet, length) before it is stored.",
    },
  },
};

/** `POST /api/nodes/payouts`'s body (published in /openapi.json); no coin means the saved address's. */
export const PAYOUT_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "PayoutRequest",
  properties: { coin: { enum: [...SUPPORTED_COINS, null] } },
};

const checkPayoutAddress = compileSchema(PAYOUT_ADDRESS_SCHEMA);
const checkPayoutRequest = compileSchema(PAYOUT_REQUEST_SCHEMA);

/** Mounts the payout routes on the app (before `/api/nodes/:pubkey`, which would shadow them). */
export function mountPayoutRoutes(app: Hono<AppEnv>, cp: ControlPlane): void {
  const auth = nip98Auth(cp);

  app.post("/api/nodes/payout-address", auth, async (c) => {
    const body = objectBody(c);
    const issue = checkPayoutAddress(body);
    const coin = parseCoin(body.coin);
    if (issue !== null || typeof body.address !== "string") {
      throw new HttpError(400, "address must be a string", { code: "invalid_request", param: "address" });
    }
    const saved = await savePayoutAddress(cp.db.sql, {
      nodePubkey: c.get("nodePubkey"),
      coin,
      address: body.address,
    });
    if (!saved.ok) throw new HttpError(400, saved.reason, { code: "invalid_request", param: "address" });
    return c.json({ coin: saved.row.coin, address: saved.row.address });
  });

  app.get("/api/nodes/payout-addresses", auth, async (c) => {
    const rows = await listPayoutAddresses(cp.db.sql, c.get("nodePubkey"));
    return c.json({
      addresses: rows.map((a) => ({
        coin: a.coin,
        address: a.address,
        updated_at: a.updatedAt.toISOString(),
      })),
    });
  });

  app.post("/api/nodes/payouts", auth, async (c) => {
    const body = objectBody(c);
    const coin = checkPayoutRequest(body) === null && (body.coin === undefined || body.coin === null)
      ? undefined
      : parseCoin(body.coin);
    try {
      const payout = await requestPayout(payoutDepsOf(cp), {
        nodePubkey: c.get("nodePubkey"),
        coin,
        automatic: false,
      });
      return c.json({ payout: payoutJson(payout) }, 201);
    } catch (err) {
      if (err instanceof PayoutRequestError) {
        throw new HttpError(409, err.message, { code: "invalid_request", cause: err });
      }
      throw err;
    }
  });

  app.get("/api/nodes/payouts", auth, async (c) => {
    const rows = await listPayouts(cp.db.sql, c.get("nodePubkey"));
    return c.json({ payouts: rows.map(payoutJson) });
  });

  app.get("/api/nodes/earnings", auth, async (c) => {
    await cp.recorder.flush(); // the jobs just served count
    const s = await earningsSummary(cp.db.sql, c.get("nodePubkey"));
    const { minPayout, autoPayout } = payoutThresholds(cp.config);
    return c.json({
      pending_usd: formatUsd(s.pending),
      in_flight_usd: formatUsd(s.inFlight),
      paid_usd: formatUsd(s.paid),
      min_payout_usd: formatUsd(minPayout),
      auto_payout_usd: autoPayout === null ? null : formatUsd(autoPayout),
      days: s.days.map((d) => ({ day: d.day, earned_usd: formatUsd(d.earned), jobs: d.jobs })),
      coins: s.coins.map((k) => ({
        coin: k.coin,
        paid_usd: formatUsd(k.paid),
        in_flight_usd: formatUsd(k.inFlight),
        paid_crypto: k.paidCrypto,
      })),
    });
  });
}
