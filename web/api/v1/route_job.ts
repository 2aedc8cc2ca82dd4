// Shared steps of every `/v1` job: read the body, pick nodes, start the run, dispatch.
import type { AppContext } from "../../app_env.ts";
import { formatUsd, type JobKind, type ProviderPrefs, RequestError } from "../../../shared/mod.ts";
import { completionAllowance, holdFor } from "../../billing/hold.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { modelPrices, selectNodes } from "../../router/select_nodes.ts";
import { countLimit, largestContext, nodesForPrompt } from "../../router/context_window.ts";
import { JobRun } from "../../jobs/job_run.ts";
import { dispatchJob, type DispatchOutcome } from "../../dispatch/dispatch.ts";
import type { ApiCaller } from "./api_key_auth.ts";

// The body reader lives in web/http_body.ts; app.ts and deposits.ts still import it from here.
export { readJsonBody } from "../../http_body.ts";

/** Runs an edge parser, turning its RequestError into a 400. */
export function parseOrThrow<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof RequestError) {
      throw new HttpError(400, err.message, { code: "invalid_request", param: err.param, cause: err });
    }
    throw err;
  }
}

/** When a job's request reached the app, went to the node, and the node's first event came back
 * (`performance.now()`). */
export interface JobTiming {
  receivedAt: number;
  dispatchedAt: number;
  answeredAt: number;
}

/** A job that a node has started, with its run. */
export type StartedJob = {
  run: JobRun;
  outcome: Extract<DispatchOutcome, { ok: true }>;
  timing: JobTiming;
};

/** Routes, starts and dispatches a job; throws the HttpError the consumer should see. */
export async function startJob(
  cp: ControlPlane,
  c: AppContext,
  job: {
    kind: JobKind;
    model: string;
    stream: boolean;
    provider: ProviderPrefs;
    body: Record<string, unknown>;
    /** Our count of the prompt, a slice at a time; it may stop once past `limit`. */
    countPrompt: (limit: number) => Promise<number>;
    /** Chat: the consumer's max_tokens (null: the default allowance, asked of the engine too). */
    maxTokens?: number | null;
  },
): Promise<StartedJob> {
  const caller = c.get("caller") as ApiCaller;
  const route = selectNodes(cp.registry.all(), {
    model: job.model,
    provider: job.provider,
    nowMs: Date.now(),
    staleMs: cp.config.nodeStaleMs,
  });
  if (!route.ok && route.reason === "unknown_model") {
    throw new HttpError(
      404,
      `The model '${job.model}' does not exist or no node serves it right now. GET /v1/models lists the models being served.`,
      { code: "model_not_found", param: "model" },
    );
  }
  if (!route.ok && route.reason === "over_max_price") {
    throw new HttpError(
      404,
      `No node serves '${job.model}' within your provider.max_price; GET /v1/models lists the lowest prices.`,
      { code: "no_node_within_max_price", param: "provider.max_price" },
    );
  }
  const run = new JobRun(cp.runDeps, {
    kind: job.kind,
    model: job.model,
    stream: job.stream,
    apiKeyId: caller.apiKeyId,
    countPrompt: job.countPrompt,
  });
  // The consumer's request id (the SDKs' `_request_id`, `requestID` on errors) is the job's from
  // here on, refusals included: it finds the job's row. An answer carries it in jobHeaders, an
  // error gets it from app.ts's error handler.
  c.set("jobId", run.id);
  let body = job.body;
  let nodes = route.ok ? route.nodes : [];
  if (route.ok) {
    // Hold the worst case before any node works; a request the balance cannot cover is a 402.
    let promptTokens: number;
    try {
      // A chat prompt no candidate's context window takes is not counted to its end. (An
      // embedding request's count is its inputs' total; a window bounds each input alone.)
      promptTokens = await run.countPrompt(job.kind === "chat" ? countLimit(nodes, job.model) : Infinity);
    } catch (err) {
      if (!c.req.raw.signal.aborted) {
        run.end("failed", { errorCode: "internal_error" });
        throw err;
      }
      // The consumer went away while a long prompt was being counted.
      run.end("cancelled", { errorCode: "client_disconnected" });
      throw new HttpError(499, "client closed the request", { code: "invalid_request" });
    }
    if (job.kind === "chat") {
      nodes = nodesForPrompt(nodes, job.model, promptTokens);
      if (nodes.length === 0) {
        run.end("rejected", { errorCode: "context_length_exceeded" });
        const window = largestContext(route.nodes, job.model);
        throw new HttpError(
          400,
          `This model's maximum context length is ${window} tokens. However, your messages resulted ` +
            `in more than ${window} tokens. Please reduce the length of the messages.`,
          { code: "context_length_exceeded", param: "messages" },
        );
      }
    }
    const allowance = job.kind === "chat"
      ? completionAllowance(job.maxTokens ?? null, {
        defaultMaxTokens: cp.config.defaultMaxTokens,
        promptTokens,
        model: job.model,
        nodes,
      })
      : 0;
    if (job.kind === "chat" && job.maxTokens == null) body = { ...body, max_tokens: allowance };
    const hold = holdFor({
      model: job.model,
      promptTokens,
      completionAllowance: allowance,
      nodes,
    });
    const reserved = await cp.leases.reserve(caller.apiKeyId, hold);
    if (!reserved.ok) {
      run.end("rejected", { errorCode: "insufficient_quota" });
      throw new HttpError(
        402,
        `You exceeded your current quota: this request may cost up to ${formatUsd(hold)} USD and ` +
          `this key has ${formatUsd(reserved.available)} USD available. Deposit with POST /api/deposits.`,
        { code: "insufficient_quota" },
      );
    }
    run.lease = reserved.lease;
  }
  const dispatchedAt = performance.now();
  const outcome = await dispatchJob({
    jobId: run.id,
    kind: job.kind,
    stream: job.stream,
    body,
    nodes,
    firstEventTimeoutMs: cp.config.firstTokenTimeoutMs,
    signal: c.req.raw.signal,
    registry: cp.registry,
    log: cp.log,
  });
  const answeredAt = performance.now();
  run.attempts = outcome.attempts;
  if (!outcome.ok) {
    run.end(outcome.aborted ? "cancelled" : "failed", { errorCode: outcome.error.code });
    throw outcome.error;
  }
  run.node = outcome.node;
  run.prices = modelPrices(outcome.node, job.model);
  run.markFirstToken();
  const receivedAt = c.get("receivedAt") ?? dispatchedAt;
  return { run, outcome, timing: { receivedAt, dispatchedAt, answeredAt } };
}

/**
 * Headers that tell the consumer which job and node served them, and where the time went until
 * now (Server-Timing, https://www.w3.org/TR/server-timing/): `cp` is this server's own work
 * (reading, authenticating, routing, holding, then answering), `node` the round trip to the node
 * until its first event (both socket hops, the daemon and the engine). What the consumer measured
 * beyond the two is the network between it and this server.
 */
export function jobHeaders({ run, timing }: StartedJob): Record<string, string> {
  const node = timing.answeredAt - timing.dispatchedAt;
  const cp = timing.dispatchedAt - timing.receivedAt + (performance.now() - timing.answeredAt);
  return {
    "x-request-id": run.id,
    "x-infernet-job-id": run.id,
    "x-infernet-node": run.node?.record.pubkey ?? "",
    "server-timing": `cp;dur=${cp.toFixed(3)};desc="control plane", node;dur=${
      node.toFixed(3)
    };desc="node and engine until the first event"`,
  };
}
