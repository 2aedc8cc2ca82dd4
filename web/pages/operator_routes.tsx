// The operator's pages. The operator is a node key, signed in by `requireOperator` (a session
// cookie), or an operator key that has claimed nodes (the session's role `operator`: the page and
// forms of operator_account_routes.tsx); every route reads only that key's data. Every POST answers with a 303 redirect and a
// notice, so a reload never repeats it; a refused form is shown again with its error and what was
// typed. A payout request carries a one-time token from its form: a second submit of the same
// form (a double click, a back-and-resend) finds the token used and creates nothing.
import type { Hono } from "hono";
import { npubEncode } from "nostr-tools/nip19";
import {
  currentClaimOfNode,
  earningsSummary,
  type JobCursor,
  listNodeJobs,
  listPayoutAddresses,
  listPayouts,
  nodeJobStats,
  type PayoutRow,
} from "../../db/mod.ts";
import { formatUsd, isCoin, SUPPORTED_COINS } from "../../shared/mod.ts";
import type { AppContext, AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { requireOperator } from "../auth/session.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import { NANO_USD_PER_CENT, PayoutRequestError, requestPayout } from "../payments/payouts.ts";
import { payoutDepsOf, payoutThresholds, savePayoutAddress } from "../payments/operator_payouts.ts";
import { chartDays } from "./earnings_chart_scale.ts";
import type { NodeHealth, OperatorView } from "./operator_view.ts";
import { OperatorPage } from "./OperatorPage.tsx";
import { renderPage } from "./render.ts";
import { reputationPanel } from "./reputation_data.ts";
import { randomHex } from "../auth/random_hex.ts";
import { formatJobCursor, parseJobCursor } from "./job_cursor.ts";
import {
  mountOperatorClaimRoutes,
  operatorAccountPage,
  operatorPayouts,
  payOperator,
  saveOperatorAddress,
} from "./operator_account_routes.tsx";

const CHART_DAYS = 30;
const JOBS_PER_PAGE = 50;
const STATS_WINDOW_MS = 86_400_000;
const TOKEN = /^[0-9a-f]{32}$/;
const TOKEN_TTL_MS = 86_400_000;
const MAX_ADDRESS_CHARS = 200;

/** The registry's view of a node's health: online when its socket is open and its heartbeat fresh. */
export function nodeHealth(node: LiveNode, nowMs: number, staleMs: number): NodeHealth {
  const seen = node.lastHeartbeatAt > 0;
  const ageMs = seen ? Math.max(0, nowMs - node.lastHeartbeatAt) : null;
  const fresh = ageMs !== null && ageMs <= staleMs;
  const open = node.connection?.open ?? false;
  return {
    state: open && fresh ? "online" : open || fresh ? "stale" : "offline",
    socketOpen: open,
    lastHeartbeatAt: seen ? new Date(node.lastHeartbeatAt) : null,
    heartbeatAgeS: ageMs === null ? null : Math.round(ageMs / 1000),
    staleAfterS: Math.round(staleMs / 1000),
    load: node.heartbeat?.load ?? null,
    // Before the first heartbeat body, the open socket's own count gives the free slots.
    freeSlots: node.heartbeat?.free_slots ??
      (open ? Math.max(0, node.record.maxConcurrency - (node.connection?.inFlight ?? 0)) : null),
    inFlight: node.connection?.inFlight ?? node.heartbeat?.in_flight ?? 0,
    successes: node.stats.successes,
    failures: node.stats.failures,
    ttftEwmaMs: node.stats.ttftEwmaMs,
  };
}

function olderHref(next: JobCursor | null): string | null {
  if (!next) return null;
  const q = new URLSearchParams({ before: formatJobCursor(next) });
  return `/operator?${q}#jobs`;
}

function payoutNotice(p: PayoutRow): { kind: "ok" | "error"; text: string } {
  const what = `Payout #${p.id} of ${formatUsd(p.amount)} USD to your ${p.coin} address`;
  switch (p.status) {
    case "completed":
      return { kind: "ok", text: `${what} was paid${p.txHash ? ` (transaction ${p.txHash})` : ""}.` };
    case "sent":
      return { kind: "ok", text: `${what} was accepted by the payment processor and is on its way.` };
    case "requested":
      return {
        kind: "ok",
        text:
          `${what} is recorded; the payment processor did not answer yet, so it is retried automatically.`,
      };
    case "failed":
      return {
        kind: "error",
        text: `${what} failed: ${p.error ?? "unknown error"}. The amount is back in your earnings.`,
      };
  }
}

interface Extras {
  notice?: OperatorView["notice"];
  addressForm?: OperatorView["addressForm"];
  payoutError?: string;
}

async function noticeFromQuery(
  cp: ControlPlane,
  pubkey: string,
  q: Record<string, string | undefined>,
  operator = false,
) {
  const payoutId = q.payout && /^\d{1,18}$/.test(q.payout) ? BigInt(q.payout) : null;
  const list = () => operator ? operatorPayouts(cp, pubkey) : listPayouts(cp.db.sql, pubkey);
  const own = async () => payoutId === null ? undefined : (await list()).find((p) => p.id === payoutId);
  switch (q.notice) {
    case "address_saved":
      return isCoin(q.coin)
        ? { kind: "ok" as const, text: `Your ${q.coin} payout address is saved.` }
        : undefined;
    case "payout": {
      const p = await own();
      return p ? payoutNotice(p) : undefined;
    }
    case "payout_repeated": {
      const p = await own();
      return {
        kind: "ok" as const,
        text: `That payout request was already sent${p ? ` (payout #${p.id})` : ""}; nothing was paid twice.`,
      };
    }
  }
  return undefined;
}

async function operatorPage(cp: ControlPlane, c: AppContext, extras: Extras = {}, status = 200) {
  const pubkey = c.get("operatorPubkey");
  // A refused form's error sits by the form, far down the page: the top of the page says it too.
  const refusal = extras.addressForm?.error
    ? `The payout address was not saved: ${extras.addressForm.error} (see "Payout addresses" below).`
    : extras.payoutError
    ? `No payout was requested: ${extras.payoutError} (see "Payouts" below).`
    : null;
  if (refusal && !extras.notice) extras = { ...extras, notice: { kind: "error", text: refusal } };
  if (c.get("sessionRole") === "operator") {
    const notice = extras.notice ?? await noticeFromQuery(cp, pubkey, c.req.query(), true);
    return operatorAccountPage(cp, c, { ...extras, notice }, status);
  }
  const q = c.req.query();
  const cursor = parseJobCursor(q.before);
  const now = new Date();
  const sql = cp.db.sql;
  await cp.recorder.flush(); // the jobs just served are on the page
  const [earnings, stats, jobs, addresses, payouts, notice, reputation, claim] = await Promise.all([
    earningsSummary(sql, pubkey, { days: CHART_DAYS, now }),
    nodeJobStats(sql, pubkey, new Date(now.getTime() - STATS_WINDOW_MS)),
    listNodeJobs(sql, pubkey, { before: cursor, limit: JOBS_PER_PAGE }),
    listPayoutAddresses(sql, pubkey),
    listPayouts(sql, pubkey, { limit: 50 }),
    extras.notice ? Promise.resolve(extras.notice) : noticeFromQuery(cp, pubkey, q),
    reputationPanel(cp, pubkey),
    currentClaimOfNode(sql, pubkey),
  ]);
  const live = cp.registry.get(pubkey);
  const { minPayout, autoPayout } = payoutThresholds(cp.config);
  const view: OperatorView = {
    pubkey,
    node: live
      ? { record: live.record, health: nodeHealth(live, now.getTime(), cp.config.nodeStaleMs) }
      : null,
    stats,
    reputation,
    earnings,
    payable: (earnings.pending / NANO_USD_PER_CENT) * NANO_USD_PER_CENT,
    minPayout,
    autoPayout,
    chart: chartDays(earnings.days, { today: now, days: CHART_DAYS }),
    jobs: jobs.jobs,
    olderHref: olderHref(jobs.next),
    paged: cursor !== null,
    addresses,
    payouts,
    coins: SUPPORTED_COINS,
    payoutToken: randomHex(16),
    notice,
    addressForm: extras.addressForm,
    payoutError: extras.payoutError,
    claimedBy: claim?.status === "active" ? npubEncode(claim.operatorPubkey) : null,
  };
  return renderPage(c, <OperatorPage {...view} />, status);
}

const field = (form: Record<string, unknown>, name: string) =>
  typeof form[name] === "string" ? (form[name] as string).trim() : "";

/** Mounts `/operator` and its forms, each behind the operator's session. */
export function mountOperatorRoutes(app: Hono<AppEnv>, cp: ControlPlane): void {
  app.use("/operator", requireOperator(cp));
  app.use("/operator/*", requireOperator(cp));

  app.get("/operator", (c) => operatorPage(cp, c));
  mountOperatorClaimRoutes(app, cp);

  app.post("/operator/payout-address", async (c) => {
    const form = await c.req.parseBody();
    const coin = field(form, "coin");
    const address = field(form, "address");
    if (!isCoin(coin)) {
      return operatorPage(cp, c, { notice: { kind: "error", text: "Choose one of the listed coins." } }, 400);
    }
    const pubkey = c.get("operatorPubkey");
    const refused = c.get("sessionRole") === "operator"
      ? await saveOperatorAddress(cp, { operatorPubkey: pubkey, coin, address })
      : await savePayoutAddress(cp.db.sql, { nodePubkey: pubkey, coin, address }).then((s) =>
        s.ok ? null : s.reason
      );
    if (refused !== null) {
      // What was typed goes back into the form (shortened: it is only there to be corrected).
      const typed = address.slice(0, MAX_ADDRESS_CHARS);
      return operatorPage(cp, c, { addressForm: { coin, address: typed, error: refused } }, 400);
    }
    return c.redirect(`/operator?notice=address_saved&coin=${coin}#addresses`, 303);
  });

  app.post("/operator/payouts", async (c) => {
    const pubkey = c.get("operatorPubkey");
    const form = await c.req.parseBody();
    const coin = field(form, "coin");
    const token = field(form, "token");
    if (!isCoin(coin)) {
      return operatorPage(cp, c, { payoutError: "Choose one of your payout addresses." }, 400);
    }
    if (!TOKEN.test(token)) {
      return operatorPage(cp, c, {
        payoutError: "This form is out of date; check the amount and send it again.",
      }, 400);
    }
    // The token is taken atomically before any money moves: of two submits, one goes on.
    const key = ["operator_payout_form", pubkey, token];
    const taken = await cp.state.kv.atomic().check({ key, versionstamp: null }).set(key, { payoutId: null }, {
      expireIn: TOKEN_TTL_MS,
    }).commit();
    if (!taken.ok) {
      const seen = (await cp.state.kv.get<{ payoutId: string | null }>(key)).value?.payoutId;
      return c.redirect(`/operator?notice=payout_repeated${seen ? `&payout=${seen}` : ""}#payouts`, 303);
    }
    let payout: PayoutRow;
    try {
      payout = c.get("sessionRole") === "operator"
        ? await payOperator(cp, pubkey, coin, token)
        : await requestPayout(payoutDepsOf(cp), { nodePubkey: pubkey, coin, automatic: false });
    } catch (err) {
      // Nothing moved: the same form may be sent again (after setting an address, say).
      await cp.state.kv.delete(key);
      if (err instanceof PayoutRequestError) return operatorPage(cp, c, { payoutError: err.message }, 409);
      throw err;
    }
    await cp.state.kv.set(key, { payoutId: String(payout.id) }, { expireIn: TOKEN_TTL_MS });
    return c.redirect(`/operator?notice=payout&payout=${payout.id}#payouts`, 303);
  });
}
