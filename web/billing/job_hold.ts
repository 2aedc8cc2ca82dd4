// The money step of a `/v1` job: the worst case it can cost (web/billing/hold.ts) set aside from
// the key's balance lease before any node works, so a consumer can never owe more than it has.
import type { JobKind } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import { completionAllowance, holdFor } from "./hold.ts";
import type { BalanceLeases, JobLease } from "./leases.ts";

/** What a job's hold is computed from. */
export interface JobHoldRequest {
  apiKeyId: bigint;
  kind: JobKind;
  model: string;
  /** Our count of the prompt. */
  promptTokens: number;
  /** Chat: the consumer's limit per choice (null: the default allowance). */
  maxTokens: number | null;
  /** Chat: how many choices (`n`), each held for the whole allowance (default 1). */
  choices?: number;
  defaultMaxTokens: number;
  /** The nodes that may serve the job (the hold is at the highest of their prices). */
  nodes: LiveNode[];
}

/** The hold taken (with the completion allowance a choice it assumed), or what the key has available. */
export type JobHold =
  | { ok: true; lease: JobLease; hold: bigint; completionAllowance: number }
  | { ok: false; hold: bigint; available: bigint };

/** Computes the job's worst-case cost and reserves it against the key's balance lease. */
export async function holdJob(leases: BalanceLeases, r: JobHoldRequest): Promise<JobHold> {
  const allowance = r.kind === "chat"
    ? completionAllowance(r.maxTokens, {
      defaultMaxTokens: r.defaultMaxTokens,
      promptTokens: r.promptTokens,
      model: r.model,
      nodes: r.nodes,
    })
    : 0;
  const hold = holdFor({
    model: r.model,
    promptTokens: r.promptTokens,
    completionAllowance: allowance * (r.choices ?? 1),
    nodes: r.nodes,
  });
  const reserved = await leases.reserve(r.apiKeyId, hold);
  return reserved.ok
    ? { ok: true, lease: reserved.lease, hold, completionAllowance: allowance }
    : { ok: false, hold, available: reserved.available };
}
