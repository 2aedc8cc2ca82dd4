// What every `/v1` job shares: its edge parsing, its stages from route to dispatch, and the
// headers of its answer.
import type { AppContext } from "../../app_env.ts";
import {
  formatUsd,
  type JobKind,
  type ProviderPrefs,
  RequestError,
  requestParameters,
  withCompletionLimit,
} from "../../../shared/mod.ts";
import { holdJob } from "../../billing/job_hold.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { JobRun } from "../../jobs/job_run.ts";
import type { ApiCaller } from "./api_key_auth.ts";
import { countJobPrompt } from "./job_count.ts";
import { dispatchStage, type StartedJob } from "./job_dispatch.ts";
import { routeJob } from "./job_route.ts";

export type { JobTiming, StartedJob } from "./job_dispatch.ts";

// The body reader lives in web/http_body.ts; app.ts and deposits.ts still import it from here.

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

/** The 402 of a job whose worst case (`hold`) is more than the key has `available` (nano-USD). */
export function quotaError(hold: bigint, available: bigint): HttpError {
  return new HttpError(
    402,
    `You exceeded your current quota: this request may cost up to ${formatUsd(hold)} USD and ` +
      `this key has ${formatUsd(available)} USD available. Deposit with POST /api/deposits.`,
    { code: "insufficient_quota" },
  );
}

/**
 * Runs a job's stages — route (job_route.ts) → count (job_count.ts) → hold (web/billing/
 * job_hold.ts) → dispatch (job_dispatch.ts) — and throws the HttpError the consumer should see.
 */
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
    /** Chat: how many choices (`n`), each held for the whole limit. */
    choices?: number;
  },
): Promise<StartedJob> {
  const caller = c.get("caller") as ApiCaller;
  const signal = c.req.raw.signal;
  let nodes = routeJob(cp, job.model, job.provider, {
    parameters: job.provider.requireParameters ? requestParameters(job.body) : undefined,
    // Only the platform's canary key (read from its row, never from the request) reaches suspects.
    includeSuspected: caller.platform,
  });
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
  if (nodes.length > 0) {
    const counted = await countJobPrompt(run, { kind: job.kind, model: job.model, signal }, nodes);
    nodes = counted.nodes;
    // Hold the worst case before any node works; a request the balance cannot cover is a 402.
    const held = await holdJob(cp.leases, {
      apiKeyId: caller.apiKeyId,
      kind: job.kind,
      model: job.model,
      promptTokens: counted.promptTokens,
      maxTokens: job.maxTokens ?? null,
      choices: job.choices,
      defaultMaxTokens: cp.config.defaultMaxTokens,
      nodes,
    });
    if (!held.ok) {
      run.end("rejected", { errorCode: "insufficient_quota" });
      throw quotaError(held.hold, held.available);
    }
    // The engine gets the limit that was held for, in the one field every engine reads.
    if (job.kind === "chat") body = withCompletionLimit(body, held.completionAllowance);
    run.lease = held.lease;
  }
  return await dispatchStage(cp, run, { ...job, body, signal, receivedAt: c.get("receivedAt") }, nodes);
}

/**
 * Headers that tell the consumer which job and node served them, and where the time went until
 * now (Server-Timing, https://www.w3.org/TR/server-timing/): `cp` is this server's own work
 * (reading, authenticating, routing, holding, then answering), `node` the round trip to the node
 * until its first event (both socket hops, the daemon and the engine). What the consumer measured
 * beyond the two is the network between it and this server. Called once per answer: the split is
 * counted in the metrics too.
 */
export function jobHeaders({ run, timing }: StartedJob): Record<string, string> {
  const node = timing.answeredAt - timing.dispatchedAt;
  const cp = timing.dispatchedAt - timing.receivedAt + (performance.now() - timing.answeredAt);
  run.observeTiming(cp, node);
  return {
    "x-request-id": run.id,
    "x-infernet-job-id": run.id,
    "x-infernet-node": run.node?.record.pubkey ?? "",
    "server-timing": `cp;dur=${cp.toFixed(3)};desc="control plane", node;dur=${
      node.toFixed(3)
    };desc="node and engine until the first event"`,
  };
}
