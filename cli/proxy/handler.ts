// `infernet proxy`'s requests (docs/protocol.md §14): a local OpenAI-compatible endpoint that runs
// each chat completion in direct mode (shared/direct/client.ts), so the official SDKs work
// unchanged with a base URL of http://127.0.0.1:8788/v1. The API key comes from the SDK's own
// Authorization header and goes to the control plane only to route, relay and acknowledge.
import { fastestSecp256k1, isRecord, type Logger, openAiErrorBody } from "../../shared/mod.ts";
import { type ChatRequest, DirectError, fastestNip44, privateChat } from "../../shared/direct/mod.ts";
import { discoverOffers, type RelayPool, type RelayReputations } from "../../shared/relay/mod.ts";
import { relayChat, type RelayVoucher } from "../../shared/relay/relay_client.ts";

/** Options of {@link createProxyHandler}. */
export interface ProxyOptions {
  /** The control plane's base URL. */
  server: string;
  /** Reach every node through the control plane's relay. */
  relayOnly?: boolean;
  /** Seal each request to the node's own key (default) or to the model's key (IPIP-0028). */
  target?: "node" | "model";
  log: Logger;
  fetch?: typeof fetch;
  /**
   * Serve from Nostr relays, paid by vouchers (docs/protocol.md §18): no control plane at request
   * time, and no API key asked.
   */
  relay?: {
    pool: RelayPool;
    takeVoucher: () => Promise<RelayVoucher | null>;
    /** Ranks offers by reputation from the receipts on the relays (default: cheapest first). */
    reputations?: RelayReputations;
  };
}

const encoder = new TextEncoder();

function openAiError(status: number, message: string, code: string | null): Response {
  return Response.json(openAiErrorBody(status, message, { code }), { status });
}

function errorResponse(err: unknown, log: Logger): Response {
  if (err instanceof DirectError) {
    if (err.status >= 500) log.warn("private request failed", { code: err.code, msg: err.message });
    return openAiError(err.status, err.message, err.code);
  }
  log.error("proxy error", { err });
  return openAiError(500, `the proxy failed: ${(err as Error).message ?? err}`, "proxy_error");
}

/** The answer to a client that has gone away: nobody reads it, and it is not an error to log. */
const gone = () => new Response(null, { status: 499 });

/** An SSE event as OpenAI frames it. */
const sse = (data: string) => encoder.encode(`data: ${data}\n\n`);

/** Builds the proxy's `Request → Response` handler. */
export function createProxyHandler(opts: ProxyOptions): (req: Request) => Promise<Response> {
  const server = opts.server.replace(/\/+$/, "");
  const doFetch = opts.fetch ?? fetch;
  const { log } = opts;

  async function chat(req: Request, apiKey: string): Promise<Response> {
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return openAiError(400, "the request body is not JSON", "invalid_json");
    }
    if (!isRecord(body) || typeof body.model !== "string" || !Array.isArray(body.messages)) {
      return openAiError(400, "a chat completion needs a model and messages", "invalid_request");
    }
    let jobId = "";
    const abort = new AbortController();
    const onGone = () => abort.abort(new DOMException("the client went away", "AbortError"));
    req.signal.addEventListener("abort", onGone, { once: true });
    const secp = await fastestSecp256k1();
    const onFallback = (node: string, err: DirectError) =>
      log.info("falling back to the next node", { node, code: err.code });
    const answer = opts.relay
      ? relayChat({
        pool: opts.relay.pool,
        body: body as ChatRequest,
        takeVoucher: opts.relay.takeVoucher,
        reputations: opts.relay.reputations,
        signal: abort.signal,
        secp,
        onAttempt: (_offer, id) => jobId = id,
        relayOnly: opts.relayOnly,
        onFallback,
      })
      : privateChat({
        server,
        apiKey,
        body: body as { model: string; messages: unknown[] },
        signal: abort.signal,
        fetch: doFetch,
        relayOnly: opts.relayOnly,
        target: opts.target,
        // libsecp256k1 (native, else wasm) for the one-off key, the ECDH and the usage ack; the
        // frames by libsodium where it loads.
        secp,
        cipher: fastestNip44(),
        onRoute: (route) => jobId = route.job_id,
        onFallback,
        onAckError: (err) => log.warn("the usage ack was not posted", { msg: (err as Error).message }),
      });
    let first: IteratorResult<unknown>;
    try {
      first = await answer.next();
    } catch (err) {
      req.signal.removeEventListener("abort", onGone);
      return abort.signal.aborted ? gone() : errorResponse(err, log);
    }
    if (body.stream !== true) {
      try {
        // Finish the answer: the client posts its usage ack when it ends.
        if (!first.done && !(await answer.next()).done) await answer.return(undefined);
      } catch (err) {
        return abort.signal.aborted ? gone() : errorResponse(err, log);
      } finally {
        req.signal.removeEventListener("abort", onGone);
      }
      if (first.done) return openAiError(502, "the node sent no answer", "empty_answer");
      return Response.json(first.value, { headers: { "x-infernet-job-id": jobId } });
    }
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        if (!first.done) ctl.enqueue(sse(JSON.stringify(first.value)));
      },
      async pull(ctl) {
        try {
          const next = first.done ? first : await answer.next();
          if (!next.done) return ctl.enqueue(sse(JSON.stringify(next.value)));
          ctl.enqueue(sse("[DONE]"));
        } catch (err) {
          if (abort.signal.aborted) return;
          // After the first token an error ends the stream: OpenAI's SDKs raise an SSE `error`.
          const e = err instanceof DirectError ? err : new DirectError(502, "proxy_error", String(err));
          log.warn("private stream failed", { code: e.code, msg: e.message });
          ctl.enqueue(sse(JSON.stringify(openAiErrorBody(e.status, e.message, { code: e.code }))));
        }
        req.signal.removeEventListener("abort", onGone);
        ctl.close();
      },
      async cancel() {
        onGone();
        await answer.return(undefined).catch(() => {});
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
        "x-infernet-job-id": jobId,
      },
    });
  }

  async function models(req: Request): Promise<Response> {
    if (opts.relay) {
      // The models with a live offer on the relays, as OpenAI lists models.
      const ids = [...new Set((await discoverOffers(opts.relay.pool)).map((o) => o.model))].sort();
      return Response.json({
        object: "list",
        data: ids.map((id) => ({ id, object: "model", created: 0, owned_by: "infernet" })),
      });
    }
    const auth = req.headers.get("authorization");
    const res = await doFetch(`${server}/v1/models`, { headers: auth ? { authorization: auth } : {} });
    return new Response(res.body, {
      status: res.status,
      headers: { "content-type": res.headers.get("content-type") ?? "application/json" },
    });
  }

  return async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname.replace(/\/+$/, "");
    try {
      if (req.method === "GET" && path === "/v1/models") return await models(req);
      if (req.method === "POST" && path === "/v1/chat/completions") {
        const apiKey = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? "";
        if (!apiKey && !opts.relay) {
          return openAiError(401, "missing API key: send Authorization: Bearer <key>", "invalid_api_key");
        }
        return await chat(req, apiKey);
      }
      return openAiError(
        404,
        `the proxy serves /v1/chat/completions and /v1/models, not ${req.method} ${path}`,
        null,
      );
    } catch (err) {
      return errorResponse(err, log);
    }
  };
}
