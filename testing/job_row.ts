// A job row for tests: a completed chat of 5 prompt and 7 completion tokens, then the overrides.
import type { JobRow } from "../db/jobs.ts";

/** A job row with test defaults; `over` sets whatever the test is about. */
export function testJobRow(id: string, over: Partial<JobRow> = {}): JobRow {
  const at = over.createdAt ?? new Date();
  return {
    id,
    apiKeyId: null,
    kind: "chat",
    model: "tiny",
    nodePubkey: null,
    stream: false,
    status: "completed",
    attempts: 1,
    errorCode: null,
    enginePromptTokens: 5,
    engineCompletionTokens: 7,
    countedPromptTokens: 5,
    countedCompletionTokens: 7,
    promptTokens: 5,
    completionTokens: 7,
    ttftMs: 3,
    latencyMs: 12,
    createdAt: at,
    finishedAt: at,
    ...over,
  };
}
