// Stage 4 of a `/v1` job: send it to the nodes in turn until one starts it, and note when.
import type { JobKind } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { dispatchJob, type DispatchOutcome } from "../../dispatch/dispatch.ts";
import type { JobRun } from "../../jobs/job_run.ts";
import type { LiveNode } from "../../registry/node_registry.ts";
import { modelPrices } from "../../router/select_nodes.ts";

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

/** Dispatches the job; a job no node started ends (failed, or cancelled) and its error is thrown. */
export async function dispatchStage(
  cp: ControlPlane,
  run: JobRun,
  job: {
    kind: JobKind;
    model: string;
    stream: boolean;
    body: Record<string, unknown>;
    signal: AbortSignal;
    receivedAt: number | undefined;
  },
  nodes: LiveNode[],
): Promise<StartedJob> {
  const dispatchedAt = performance.now();
  const outcome = await dispatchJob({
    jobId: run.id,
    kind: job.kind,
    stream: job.stream,
    body: job.body,
    nodes,
    firstEventTimeoutMs: cp.config.firstTokenTimeoutMs,
    signal: job.signal,
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
  return { run, outcome, timing: { receivedAt: job.receivedAt ?? dispatchedAt, dispatchedAt, answeredAt } };
}
