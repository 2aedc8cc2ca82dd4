// Sends a job to the best node; a node that fails before its first chunk or answer is skipped
// for the next one, invisibly to the consumer. Once a node has started, the job is its own.
import type { JobKind, Logger } from "../../shared/mod.ts";
import type { LiveNode, NodeRegistry } from "../registry/node_registry.ts";
import { HttpError } from "../http_error.ts";
import { type JobChannel, type JobEvent, TIMED_OUT } from "./job_channel.ts";

/** What to send and to whom. */
export interface DispatchRequest {
  jobId: string;
  kind: JobKind;
  stream: boolean;
  body: Record<string, unknown>;
  /** Candidates, best first (from the router). */
  nodes: LiveNode[];
  firstEventTimeoutMs: number;
  /** The consumer's request signal: aborting it stops the search. */
  signal: AbortSignal;
  registry: NodeRegistry;
  log: Logger;
  /** Called when the job is sent to a node. */
  onSent?: (node: LiveNode) => void;
  /**
   * Called for a node that did not start the job: how its attempt ended (null: not its failure,
   * it was busy), the code, and how long it had the job.
   */
  onPassed?: (node: LiveNode, end: { outcome: PassedOutcome | null; code: string; ms: number }) => void;
}

/** How an attempt that did not start the job ended. */
export type PassedOutcome = "failure" | "timeout" | "cancelled";

/** A node that started the job, with its first event; or why none did. */
export type DispatchOutcome =
  | {
    ok: true;
    node: LiveNode;
    channel: JobChannel;
    first: Exclude<JobEvent, { type: "fail" } | { type: "lost" }>;
    attempts: number;
  }
  | { ok: false; attempts: number; aborted: boolean; error: HttpError };

/** Engine answers that say "this node cannot serve it now", not "the request is wrong". */
function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 404 || status === 408 || status === 429;
}

const ABORTED = Symbol("aborted");

function abortPromise(signal: AbortSignal): Promise<typeof ABORTED> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(ABORTED);
    else signal.addEventListener("abort", () => resolve(ABORTED), { once: true });
  });
}

/** Tries the candidates in order until one starts the job. */
export async function dispatchJob(req: DispatchRequest): Promise<DispatchOutcome> {
  const aborted = abortPromise(req.signal);
  let attempts = 0;
  let lastReason = "no node was available";
  for (const node of req.nodes) {
    const conn = node.connection;
    if (!conn?.open) continue;
    attempts++;
    const sentAt = performance.now();
    const channel = conn.startJob(req.jobId, req.kind, req.stream, req.body);
    req.onSent?.(node);
    const first = await Promise.race([channel.next(req.firstEventTimeoutMs), aborted]);
    const passed = (outcome: PassedOutcome | null, code: string) =>
      req.onPassed?.(node, { outcome, code, ms: Math.round(performance.now() - sentAt) });
    if (first === ABORTED) {
      conn.cancelJob(req.jobId, "client disconnected");
      passed("cancelled", "client_disconnected");
      return {
        ok: false,
        attempts,
        aborted: true,
        error: new HttpError(499, "client closed the request", { code: "invalid_request" }),
      };
    }
    let reason: string | null = null;
    if (first === TIMED_OUT) {
      conn.cancelJob(req.jobId, "no answer in time");
      reason = `no answer within ${req.firstEventTimeoutMs} ms`;
    } else if (first.type === "lost") reason = first.reason;
    else if (first.type === "fail") reason = `${first.code}: ${first.message}`;
    else if (first.type === "response" && isRetryableStatus(first.status)) {
      reason = `engine answered ${first.status}`;
    }
    if (reason === null && first !== TIMED_OUT && first.type !== "lost" && first.type !== "fail") {
      return { ok: true, node, channel, first, attempts };
    }
    lastReason = reason ?? "unknown";
    if (first === TIMED_OUT) passed("timeout", "first_token_timeout");
    else if (first.type === "fail" && first.code === "node_busy") passed(null, first.code);
    else {
      passed(
        "failure",
        first.type === "fail"
          ? first.code
          : first.type === "lost"
          ? "node_lost"
          : `engine_${first.type === "response" ? first.status : "error"}`,
      );
    }
    req.registry.recordOutcome(node.record.pubkey, false, null);
    req.log.info("node failed before its first token; trying the next", {
      jobId: req.jobId,
      node: node.record.pubkey,
      reason,
    });
  }
  return {
    ok: false,
    attempts,
    aborted: false,
    error: new HttpError(
      503,
      attempts === 0
        ? "No node is available to serve this request right now; try again shortly."
        : `No node could serve this request (${attempts} tried; last: ${lastReason}). Try again shortly.`,
      { code: "no_node_available" },
    ),
  };
}
