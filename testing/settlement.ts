// A settlement for tests: `cost` prompt tokens at 1 nano-USD each (price 1,000 per 1k), 10 % fee,
// credited to `node` when anything is charged.
import type { Settlement } from "../db/charges.ts";
import type { JobRow } from "../db/jobs.ts";
import { testJobRow } from "./job_row.ts";

/** The test node credited by {@link testSettlement} unless another is given. */
export const TEST_NODE = "ab".repeat(32);

/** A settlement of `cost` nano-USD for `jobId`, drawn from `lease` when given. */
export function testSettlement(
  jobId: string,
  cost: bigint,
  opts: { lease?: Settlement["lease"]; node?: string } = {},
): Settlement {
  return {
    jobId,
    nodePubkey: cost > 0n ? opts.node ?? TEST_NODE : null,
    promptTokens: Number(cost),
    completionTokens: 0,
    promptPer1k: 1_000n,
    completionPer1k: 0n,
    feeBps: 1000,
    cost,
    lease: opts.lease ?? null,
  };
}

/** The job rows of lease settlements, as the recorder writes them with them (completed when charged). */
export function leaseJobRows(batch: readonly Settlement[]): JobRow[] {
  return batch.map((s) =>
    testJobRow(s.jobId, {
      apiKeyId: s.lease!.apiKeyId,
      nodePubkey: s.nodePubkey,
      status: s.cost > 0n ? "completed" : "failed",
      enginePromptTokens: s.promptTokens,
      engineCompletionTokens: 0,
      countedPromptTokens: s.promptTokens,
      countedCompletionTokens: 0,
      promptTokens: s.promptTokens,
      completionTokens: 0,
    })
  );
}
