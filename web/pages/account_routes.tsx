// The consumer's account pages. Signing in with an API key opens a short server-side session
// (web/auth/account_session.ts): the cookie holds only its random token, the page lists the key's
// sessions and signs out any of them at once. Every state change is a POST form (CSRF-checked by
// the pages' middleware), answered with a redirect so a reload never repeats it.
import type { Hono } from "hono";
import { deleteCookie, getCookie } from "hono/cookie";
import {
  consumerStatement,
  findPayment,
  listConsumerSessions,
  listPayments,
  listUsage,
  type LiveConsumerSession,
  receiptedJobs,
  revokeConsumerSession,
  revokeConsumerSessions,
  type Sql,
  usageExceeds,
  type UsageFilter,
  type UsageRow,
} from "../../db/mod.ts";
import { formatUsd, SUPPORTED_COINS } from "../../shared/mod.ts";
import type { AppContext, AppEnv, AppMiddleware } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { HttpError } from "../http_error.ts";
import { clientAddress } from "../api/keys.ts";
import { parseDepositBody, startDeposit } from "../api/deposits.ts";
import {
  accountSessionTtlS,
  clearAccountCookie,
  currentAccountSession,
  LEGACY_KEY_COOKIE,
  startAccountSession,
} from "../auth/account_session.ts";
import { loginLimiters } from "../auth/login_limits.ts";
import { AccountPage, DepositPage, SignInPage } from "./AccountPage.tsx";
import { parseUsageQuery } from "./usage_query.ts";
import { formatJobCursor } from "./job_cursor.ts";
import { renderPage } from "./render.ts";

const NANO_PER_CENT = 10_000_000n;
/** The CSV export's cap (newest first); the page says when the filter matches more. */
export const CSV_LIMIT = 10_000;
/** Requests per query of the streamed CSV export: a small first one (the download starts at once), then large. */
const CSV_FIRST_CHUNK = 250;
const CSV_CHUNK = 5_000;
/** Requests per page of the usage log. */
export const USAGE_PAGE_SIZE = 100;
/** The deposit form's one-time token: it becomes the deposit's Idempotency-Key. */
const DEPOSIT_TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

function signInPage(cp: ControlPlane, c: AppContext, error?: string, status = 200): Response {
  const minutes = Math.round(accountSessionTtlS(cp) / 60);
  return renderPage(c, <SignInPage sessionMinutes={minutes} error={error} />, status);
}

async function accountPage(
  cp: ControlPlane,
  c: AppContext,
  caller: LiveConsumerSession,
  error?: string,
  status = 200,
  depositForm?: { amountUsd: string; coin: string },
) {
  // One row more than a page says whether there is an older page.
  const query = parseUsageQuery(c.req.query(), USAGE_PAGE_SIZE + 1);
  await cp.recorder.flush(); // the jobs just answered are on the page
  const [statement, deposits, rows, sessions, csvCapped] = await Promise.all([
    consumerStatement(cp.db.sql, caller.apiKeyId, 1),
    listPayments(cp.db.sql, caller.apiKeyId, 10),
    listUsage(cp.db.sql, caller.apiKeyId, query.filter),
    listConsumerSessions(cp.db.sql, caller.apiKeyId),
    usageExceeds(cp.db.sql, caller.apiKeyId, query.filter, CSV_LIMIT),
  ]);
  const usage = rows.slice(0, USAGE_PAGE_SIZE);
  const receipted = await receiptedJobs(cp.db.sql, usage.map((u) => u.jobId));
  const last = usage.at(-1);
  const older = rows.length > USAGE_PAGE_SIZE && last
    ? formatJobCursor({ createdAt: last.createdAt, id: last.jobId })
    : null;
  const cents = (n: number) => formatUsd(BigInt(n) * NANO_PER_CENT);
  return renderPage(
    c,
    <AccountPage
      keyPrefix={caller.keyPrefix}
      sessions={sessions}
      sessionId={caller.id}
      balance={statement.balance}
      held={statement.held}
      deposits={deposits}
      usage={usage}
      receipted={receipted}
      query={query}
      older={older}
      csvLimit={csvCapped ? CSV_LIMIT : null}
      depositToken={crypto.randomUUID()}
      coins={SUPPORTED_COINS}
      minDepositUsd={cents(cp.config.minDepositCents)}
      maxDepositUsd={cents(cp.config.maxDepositCents)}
      error={error}
      depositForm={depositForm}
    />,
    status,
  );
}

function csvField(v: string): string {
  // Quoted always; a leading formula character is neutralised for spreadsheet apps.
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return `"${safe.replaceAll('"', '""')}"`;
}

const CSV_HEAD =
  ["time", "job_id", "model", "kind", "status", "prompt_tokens", "completion_tokens", "cost_usd"]
    .concat(["latency_ms", "node"]).join(",") + "\r\n";

function csvLines(rows: UsageRow[]): string {
  return rows.map((u) =>
    [
      u.createdAt.toISOString(),
      u.jobId,
      u.model,
      u.kind,
      u.status,
      String(u.promptTokens),
      String(u.completionTokens),
      formatUsd(u.cost),
      String(u.latencyMs),
      u.nodePubkey ?? "",
    ].map(csvField).join(",") + "\r\n"
  ).join("");
}

/** The usage log as CSV (header line first). */
export function usageCsv(rows: UsageRow[]): string {
  return CSV_HEAD + csvLines(rows);
}

/**
 * The CSV export as a stream: the key's matching requests, newest first, up to {@link CSV_LIMIT},
 * read by keyset a chunk at a time, so the first bytes leave after one small query.
 */
function usageCsvStream(sql: Sql, apiKeyId: bigint, filter: UsageFilter): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let sent = 0;
  let before: UsageFilter["before"] = null;
  let head = true;
  return new ReadableStream({
    async pull(ctrl) {
      const limit = Math.min(head ? CSV_FIRST_CHUNK : CSV_CHUNK, CSV_LIMIT - sent);
      const rows = limit > 0 ? await listUsage(sql, apiKeyId, { ...filter, before, limit }) : [];
      const text = (head ? CSV_HEAD : "") + csvLines(rows);
      head = false;
      if (text) ctrl.enqueue(encoder.encode(text));
      sent += rows.length;
      const last = rows.at(-1);
      if (!last || rows.length < limit) return ctrl.close();
      before = { createdAt: last.createdAt, id: last.jobId };
    },
  });
}

/** Mounts `/account` and its sub-pages. */
export function mountAccountRoutes(app: Hono<AppEnv>, cp: ControlPlane): void {
  const limits = loginLimiters(cp);

  // A cookie from before sessions holds a raw API key: it signs nothing in, and is removed.
  const dropLegacyCookie: AppMiddleware = async (c, next) => {
    if (getCookie(c, LEGACY_KEY_COOKIE) !== undefined) deleteCookie(c, LEGACY_KEY_COOKIE, { path: "/" });
    await next();
  };
  app.use("/account", dropLegacyCookie);
  app.use("/account/*", dropLegacyCookie);

  app.get("/account", async (c) => {
    const caller = await currentAccountSession(cp, c);
    return caller ? accountPage(cp, c, caller) : signInPage(cp, c);
  });

  app.post("/account/login", async (c) => {
    const wait = await limits.accountPerAddress.take(clientAddress(c));
    if (wait > 0) {
      c.header("retry-after", String(wait));
      return signInPage(cp, c, `Too many sign-in attempts from this address; retry in ${wait} s.`, 429);
    }
    const form = await c.req.parseBody();
    const key = typeof form.key === "string" ? form.key.trim() : "";
    let apiKeyId: bigint;
    try {
      apiKeyId = (await cp.auth.authenticate(`Bearer ${key}`)).apiKeyId;
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 401) throw err;
      return signInPage(cp, c, "That API key is not valid.", 401);
    }
    await startAccountSession(cp, c, apiKeyId);
    return c.redirect("/account", 303);
  });

  app.post("/account/logout", async (c) => {
    const caller = await currentAccountSession(cp, c);
    if (caller) await revokeConsumerSession(cp.db.sql, caller.apiKeyId, caller.id);
    clearAccountCookie(cp, c);
    return c.redirect("/account", 303);
  });

  app.post("/account/sessions/revoke", async (c) => {
    const caller = await currentAccountSession(cp, c);
    if (!caller) return c.redirect("/account", 303);
    const form = await c.req.parseBody();
    const id = typeof form.id === "string" && /^[1-9][0-9]{0,17}$/.test(form.id) ? BigInt(form.id) : null;
    // Only the signed-in key's own sessions: another key's id is "no such session", as an unknown one.
    if (id === null || !await revokeConsumerSession(cp.db.sql, caller.apiKeyId, id)) {
      return accountPage(cp, c, caller, "No such session for this API key.", 404);
    }
    if (id === caller.id) clearAccountCookie(cp, c);
    return c.redirect("/account", 303);
  });

  app.post("/account/sessions/revoke-all", async (c) => {
    const caller = await currentAccountSession(cp, c);
    if (caller) await revokeConsumerSessions(cp.db.sql, caller.apiKeyId);
    clearAccountCookie(cp, c);
    return c.redirect("/account", 303);
  });

  app.post("/account/deposits", async (c) => {
    const caller = await currentAccountSession(cp, c);
    if (!caller) return c.redirect("/account", 303);
    const form = await c.req.parseBody();
    let payment;
    try {
      const { cents, coin } = parseDepositBody(form, {
        minCents: cp.config.minDepositCents,
        maxCents: cp.config.maxDepositCents,
      });
      // A double submit sends the same form token twice: one deposit at the processor and here.
      const token = typeof form.token === "string" && DEPOSIT_TOKEN.test(form.token) ? form.token : null;
      payment = await startDeposit(cp, { apiKeyId: caller.apiKeyId, cents, coin, idempotencyKey: token });
    } catch (err) {
      if (!(err instanceof HttpError) || err.status >= 500 && err.code !== "processor_error") throw err;
      // The form comes back as it was sent, its error in the form's words (the API's names its fields).
      const message = err.message.replace(/^amount_usd\b/, "The amount").replace(/^coin\b/, "The coin");
      const sent = (v: unknown) => (typeof v === "string" ? v.slice(0, 64) : "");
      return accountPage(cp, c, caller, message, err.status, {
        amountUsd: sent(form.amount_usd),
        coin: sent(form.coin),
      });
    }
    return c.redirect(`/account/deposits/${encodeURIComponent(payment.id)}`, 303);
  });

  const ownDeposit = async (c: AppContext, caller: LiveConsumerSession) => {
    const payment = await findPayment(cp.db.sql, c.req.param("id") ?? "");
    return payment && payment.apiKeyId === caller.apiKeyId ? payment : null;
  };

  app.get("/account/deposits/:id", async (c) => {
    const caller = await currentAccountSession(cp, c);
    if (!caller) return c.redirect("/account", 303);
    const payment = await ownDeposit(c, caller);
    if (!payment) return accountPage(cp, c, caller, "No such deposit for this API key.", 404);
    const { balance } = await consumerStatement(cp.db.sql, caller.apiKeyId, 1);
    return renderPage(c, <DepositPage deposit={payment} balance={balance} />);
  });

  app.get("/account/deposits/:id/status", async (c) => {
    const caller = await currentAccountSession(cp, c);
    if (!caller) return c.json({ error: "signed out" }, 401);
    const payment = await ownDeposit(c, caller);
    if (!payment) return c.json({ error: "no such deposit" }, 404);
    const { balance } = await consumerStatement(cp.db.sql, caller.apiKeyId, 1);
    c.header("cache-control", "no-store");
    return c.json({
      id: payment.id,
      status: payment.creditedAt ? "credited" : payment.status,
      balanceUsd: formatUsd(balance),
    });
  });

  app.get("/account/usage.csv", async (c) => {
    const caller = await currentAccountSession(cp, c);
    if (!caller) return c.redirect("/account", 303);
    const filter = { ...parseUsageQuery(c.req.query(), CSV_LIMIT).filter, before: null };
    await cp.recorder.flush();
    c.header("content-type", "text/csv; charset=utf-8");
    c.header("content-disposition", 'attachment; filename="infernet-usage.csv"');
    c.header("cache-control", "no-store");
    return c.body(usageCsvStream(cp.db.sql, caller.apiKeyId, filter));
  });
}
