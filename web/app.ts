// The control plane's HTTP surface: `/v1` (consumers), `/api` (keys, nodes), the dashboard pages. One error handler
// renders every HttpError: as OpenAI's error JSON under `/v1`, `/api` and `/health`, as an HTML page elsewhere.
import { Hono } from "hono";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { requestId } from "hono/request-id";
import type { ControlPlane } from "./control_plane.ts";
import type { AppContext, AppEnv } from "./app_env.ts";
import { errorResponse, HttpError } from "./http_error.ts";
import { chatCompletions } from "./api/v1/chat_completions.ts";
import { embeddings } from "./api/v1/embeddings.ts";
import { listModels, retrieveModel } from "./api/v1/models.ts";
import { routeDirect } from "./api/v1/route.ts";
import { routeUsage } from "./api/v1/route_usage.ts";
import { relayDirect } from "./api/v1/relay.ts";
import { createVouchers } from "./api/v1/vouchers.ts";
import { redeemVoucherRoute } from "./vouchers/redeem.ts";
import { readJsonBody } from "./http_body.ts";
import { createKey, revokeKey } from "./api/keys.ts";
import { nip98Auth } from "./api/nodes/nip98_auth.ts";
import { registerNode } from "./api/nodes/register.ts";
import { heartbeat } from "./api/nodes/heartbeat.ts";
import { nodeStatus } from "./api/nodes/status.ts";
import { listVerificationsApi } from "./verification/verifications_api.ts";
import { nodeSocket } from "./api/nodes/socket.ts";
import { mountPayoutRoutes } from "./api/nodes/payouts.ts";
import { mountLoginApi } from "./api/login.ts";
import { mountOperatorApi } from "./api/operator_claims.ts";
import { createDeposit, getBalance, getDeposit } from "./api/deposits.ts";
import { getPricing } from "./api/pricing.ts";
import { mountReceiptRoutes } from "./api/receipts.ts";
import { mountModelKeyRoutes } from "./api/model_keys.ts";
import { coinPayWebhook } from "./api/webhooks/coinpay.ts";
import { errorPageResponse, mountPages } from "./pages/mod.ts";
import { metricsEndpoint } from "./metrics/metrics_route.ts";
import { mountApiDocs } from "./openapi/mod.ts";
import { getReputation } from "./reputation/reputation_route.ts";

/** Whether a path belongs to the JSON APIs (their errors stay OpenAI-shaped); else it is a page. */
function isApiPath(path: string): boolean {
  return /^\/(v1|api|health|healthz|readyz|metrics)(\/|$)/.test(path);
}

/** The `/v1` requests that start a job (refused while draining). */
const NEW_JOB_PATHS = new Set(["/v1/chat/completions", "/v1/embeddings", "/v1/route"]);

function isV1Path(path: string): boolean {
  return /^\/v1(\/|$)/.test(path);
}

/**
 * Names every request in `x-request-id`: the consumer's own X-Request-Id when well formed, else a
 * UUID. Not under `/v1`, where a request is named by the job it becomes (route_job.ts) and, when
 * refused before that, by {@link v1RequestId} as its error is rendered: naming each `/v1` request
 * up front cost a measurable share of the request for an id the job then replaced
 * (docs/architecture.md, "At 200 req/s every step runs cold").
 */
const requestIds = requestId({ headerName: "x-request-id" });

/** A `/v1` error's request id: its job's, else the consumer's own well-formed one, else a UUID. */
function v1RequestId(c: AppContext): string {
  const own = c.req.header("x-request-id");
  return c.get("jobId") ?? (own && own.length <= 255 && /^[\w\-=]+$/.test(own) ? own : crypto.randomUUID());
}

/** The error as the client of that path reads it: OpenAI's error JSON, or the dashboard's page. */
function renderError(path: string, err: HttpError, headers?: HeadersInit): Response {
  return isApiPath(path) ? errorResponse(err, headers) : errorPageResponse(err.status, err.message, headers);
}

/** PostgreSQL's refusal of a NUL in text (SQLSTATE 22021, "invalid byte sequence … 0x00"). */
function isNulRefusal(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === "22021" && typeof e.message === "string" && e.message.includes("0x00");
}

/** `%00` anywhere in a URL (the path and the query are percent-decoded later, by whoever reads them). */
const NUL_IN_URL = /%00/;

/** 5xx answers that are the server working as configured: logged at info, without a stack. */
const EXPECTED_UNAVAILABLE: ReadonlySet<string> = new Set([
  "payments_not_configured",
  "no_node_available",
  "server_draining",
  "job_owner_unavailable",
  "node_unavailable",
]);

/** Response headers a browser page may read from a `/v1` answer (the job, the wait before a retry). */
const CORS_EXPOSED = "x-request-id, x-infernet-job-id, x-infernet-node, retry-after, server-timing";

/**
 * `/v1` is open to pages of any origin, as OpenAI's API is (the SDKs' `dangerouslyAllowBrowser`): it
 * is authorised by the API key in a header, never by a cookie, so a page can do nothing with it that
 * its key does not allow.
 */
function allowAnyOrigin(c: AppContext): void {
  try {
    c.res.headers.set("access-control-allow-origin", "*");
    c.res.headers.set("access-control-expose-headers", CORS_EXPOSED);
  } catch {
    // Immutable headers (a fetched response): Hono copies the response to set them.
    c.header("access-control-allow-origin", "*");
    c.header("access-control-expose-headers", CORS_EXPOSED);
  }
}

/** The answer to a CORS preflight on `/v1`: any origin, the methods served, the headers asked for. */
function corsPreflight(c: AppContext): Response {
  const asked = c.req.header("access-control-request-headers") ?? "";
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, POST, OPTIONS",
      // The SDKs send their own x-stainless-* headers: whatever was asked (a header list, bounded).
      "access-control-allow-headers": /^[\w\-, ]{0,2000}$/.test(asked)
        ? asked || "authorization, content-type"
        : "authorization, content-type",
      "access-control-max-age": "86400",
    },
  });
}

/** Builds the control plane's Hono app. */
export function createApp(cp: ControlPlane): Hono<AppEnv> {
  // RegExpRouter: all routes in one precompiled match. Hono's default falls back to its trie router,
  // slower, when a route is one RegExpRouter cannot take (a `:param` beside static siblings, as
  // `/api/nodes/:pubkey` was); made explicit, such a route fails here, at start (figures:
  // docs/architecture.md, "At 200 req/s every step runs cold").
  const app = new Hono<AppEnv>({ router: new RegExpRouter() });
  // Every request is counted here, once answered, under its route's pattern (a bounded set).
  const metrics = cp.metrics;
  app.use("*", async (c, next) => {
    if (isV1Path(c.req.path)) {
      await next();
      allowAnyOrigin(c);
    } else await requestIds(c, next);
    metrics.countResponse(c);
  });
  // A NUL character cannot be stored in PostgreSQL text: one in the path or the query is refused
  // here, before any page or query sees it (one in a body is caught where the database refuses it).
  app.use("*", async (c, next) => {
    if (NUL_IN_URL.test(c.req.url)) {
      throw new HttpError(400, "The request's URL contains a NUL character (%00).", {
        code: "invalid_request",
      });
    }
    await next();
  });

  // Alive (the process answers) and ready (web/health.ts): what a load balancer probes.
  app.get("/health", (c) => c.json({ ok: true }));
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", async (c) => {
    const readiness = await cp.health.readiness();
    c.header("cache-control", "no-store");
    return c.json(readiness, readiness.ready ? 200 : 503);
  });
  app.get("/metrics", metricsEndpoint(cp));

  const v1 = new Hono<AppEnv>();
  v1.use("*", (c, next) => {
    // A browser's CORS preflight carries no API key: answered before the key is asked for.
    if (c.req.method === "OPTIONS") return Promise.resolve(corsPreflight(c));
    c.set("receivedAt", performance.now());
    return next();
  });
  // Draining (SIGTERM): no new jobs here; the jobs in flight finish, and the load balancer, which
  // now sees /readyz fail, sends the retry elsewhere.
  v1.use("*", (c, next) => {
    if (cp.health.draining && c.req.method === "POST" && NEW_JOB_PATHS.has(c.req.path)) {
      c.header("retry-after", "1");
      throw new HttpError(503, "This server is shutting down; retry the request.", {
        code: "server_draining",
      });
    }
    return next();
  });
  v1.use("*", async (c, next) => {
    const caller = await cp.auth.authenticate(c.req.header("authorization") ?? null);
    const wait = await cp.keyLimiter.take(caller.keyHash);
    if (wait > 0) {
      c.header("retry-after", String(wait));
      throw new HttpError(429, `Rate limit reached for this API key; retry in ${wait} s.`, {
        code: "rate_limited",
      });
    }
    c.set("caller", caller);
    // A relayed direct request is NDJSON the relay reads line by line, never as one JSON body.
    if (c.req.method === "POST" && !c.req.path.startsWith("/v1/relay/")) {
      c.set("body", await readJsonBody(c.req.raw));
    }
    await next();
  });
  v1.post("/chat/completions", chatCompletions(cp));
  v1.post("/embeddings", embeddings(cp));
  v1.get("/models", listModels(cp));
  v1.get("/models/:model{.+}", retrieveModel(cp));
  v1.post("/route", routeDirect(cp));
  v1.post("/route/:job_id/usage", routeUsage(cp));
  v1.post("/relay/:job_id", relayDirect(cp));
  v1.post("/vouchers", createVouchers(cp));
  app.route("/v1", v1);

  app.post("/api/keys", createKey(cp));
  app.post("/api/keys/revoke", revokeKey(cp));
  app.get("/api/pricing", getPricing(cp));
  app.get("/api/reputation/:key", getReputation(cp));
  mountReceiptRoutes(app, cp);
  mountModelKeyRoutes(app, cp);
  app.post("/api/deposits", createDeposit(cp));
  app.get("/api/deposits/:id", getDeposit(cp));
  app.get("/api/balance", getBalance(cp));
  app.post("/api/webhooks/coinpay", coinPayWebhook(cp));
  app.post("/api/nodes/register", nip98Auth(cp), registerNode(cp));
  app.post("/api/nodes/heartbeat", nip98Auth(cp), heartbeat(cp));
  app.post("/api/vouchers/redeem", nip98Auth(cp), redeemVoucherRoute(cp));
  // A draining instance takes no new node sockets either: the node tries its next instance.
  app.get("/api/nodes/ws", (c, next) => {
    if (!cp.health.draining) return next();
    c.header("retry-after", "1");
    throw new HttpError(503, "This server is shutting down; connect to another instance.", {
      code: "server_draining",
    });
  }, nodeSocket(cp));
  mountPayoutRoutes(app, cp);
  mountLoginApi(app, cp);
  mountOperatorApi(app, cp);
  // After the static /api/nodes routes, which answer first; a wildcard, as RegExpRouter takes no
  // `:pubkey` beside them.
  app.get("/api/nodes/*", nodeStatus(cp));
  app.get("/api/verifications", listVerificationsApi(cp));
  mountApiDocs(app, cp);
  mountPages(app, cp);

  app.notFound((c) =>
    isApiPath(c.req.path)
      ? errorResponse(
        new HttpError(404, `Unknown path ${c.req.method} ${c.req.path}.`, { code: "not_found" }),
        isV1Path(c.req.path) ? { "x-request-id": v1RequestId(c) } : undefined,
      )
      : errorPageResponse(404, `There is no page at ${c.req.path}.`)
  );
  app.onError((err, c) => {
    // Hono merges what the handlers set (retry-after; x-request-id outside /v1) into the error's
    // response once `c.res` has been read, as it is here.
    const headers: Record<string, string> = {};
    const retryAfter = c.res.headers.get("retry-after");
    if (retryAfter) headers["retry-after"] = retryAfter;
    if (isV1Path(c.req.path)) headers["x-request-id"] = v1RequestId(c);
    if (err instanceof HttpError) {
      // A 5xx the server means to give (nothing configured, no node, draining) is not a failure.
      if (err.status >= 500 && EXPECTED_UNAVAILABLE.has(err.code)) {
        cp.log.info("request refused", { path: c.req.path, status: err.status, code: err.code });
      } else if (err.status >= 500) cp.log.error("request failed", { path: c.req.path, err });
      return renderError(c.req.path, err, headers);
    }
    if (isNulRefusal(err)) {
      return renderError(
        c.req.path,
        new HttpError(400, "The request contains a NUL character, which cannot be stored.", {
          code: "invalid_request",
        }),
        headers,
      );
    }
    cp.log.error("unhandled error", { path: c.req.path, err });
    return isApiPath(c.req.path)
      ? errorResponse(new HttpError(500, "Internal server error.", { code: "internal_error" }), headers)
      : errorPageResponse(500, "The server failed to answer this request; please try again.", headers);
  });
  return app;
}
