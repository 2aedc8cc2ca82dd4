// Stage 4 of a `/v1` job: send it to the nodes in turn until one starts it, and note when.
import type { JobKind } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { dispatchJob, type DispatchOutcome, type PassedOutcome } from "../../dispatch/dispatch.ts";
import type { JobRun } from "../../jobs/job_run.ts";
import type { AttemptFacts } from "../../receipts/receipt_desk.ts";
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
    onSent: (node) => cp.receipts.expect(run.id, node.record.pubkey, job),
    onPassed: (node, end) => {
      const pubkey = node.record.pubkey;
      if (end.outcome === null) return cp.receipts.forget(run.id, pubkey);
      cp.receipts.attemptEnded(passedAttemptFacts(run, pubkey, end.outcome, end.code, end.ms));
    },
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

/** The receipt facts of a node that had the job but did not start it: nothing was billed. */
function passedAttemptFacts(
  run: JobRun,
  nodePubkey: string,
  outcome: PassedOutcome,
  code: string,
  ms: number,
): AttemptFacts {
  return {
    jobId: run.id,
    nodePubkey,
    kind: run.meta.kind,
    model: run.meta.model,
    apiKeyId: run.meta.apiKeyId,
    outcome,
    cancelledBy: outcome === "cancelled" ? "consumer" : null,
    errorCode: code,
    artifactHash: null,
    reported: null,
    counted: null,
    billed: { prompt_tokens: 0, completion_tokens: 0 },
    amountNano: 0n,
    ttftMs: null,
    durationMs: ms,
  };
}
