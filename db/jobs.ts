// Job rows: metering for every consumer request (never the prompt or the output).
import type { Sql } from "./client.ts";
import type { Tx } from "./ledger.ts";

/** The final states a job row can record. */
export type JobStatus = "completed" | "failed" | "cancelled" | "timeout" | "rejected";

/** A finished job, as recorded. */
export interface JobRow {
  id: string;
  apiKeyId: bigint | null;
  kind: "chat" | "embeddings";
  model: string;
  nodePubkey: string | null;
  stream: boolean;
  status: JobStatus;
  attempts: number;
  errorCode: string | null;
  enginePromptTokens: number | null;
  engineCompletionTokens: number | null;
  countedPromptTokens: number | null;
  countedCompletionTokens: number | null;
  promptTokens: number;
  completionTokens: number;
  ttftMs: number | null;
  latencyMs: number;
  createdAt: Date;
  finishedAt: Date;
}

function toWire(j: JobRow) {
  return {
    id: j.id,
    api_key_id: j.apiKeyId,
    kind: j.kind,
    model: j.model,
    node_pubkey: j.nodePubkey,
    stream: j.stream,
    status: j.status,
    attempts: j.attempts,
    error_code: j.errorCode,
    engine_prompt_tokens: j.enginePromptTokens,
    engine_completion_tokens: j.engineCompletionTokens,
    counted_prompt_tokens: j.countedPromptTokens,
    counted_completion_tokens: j.countedCompletionTokens,
    prompt_tokens: j.promptTokens,
    completion_tokens: j.completionTokens,
    ttft_ms: j.ttftMs,
    latency_ms: j.latencyMs,
    created_at: j.createdAt,
    finished_at: j.finishedAt,
  };
}

/** Records finished jobs in one statement; a job already recorded keeps its first row. */
export async function insertJobs(sql: Sql | Tx, jobs: JobRow[]): Promise<number> {
  if (jobs.length === 0) return 0;
  const rows = jobs.map(toWire);
  const result = await sql`insert into jobs ${sql(rows)} on conflict (id) do nothing`;
  return result.count;
}

/** Reads one job row back (tests and the dashboard). */
export async function findJob(sql: Sql, id: string): Promise<JobRow | null> {
  const [r] = await sql<Record<string, unknown>[]>`select * from jobs where id = ${id}`;
  if (!r) return null;
  return {
    id: r.id as string,
    apiKeyId: r.api_key_id as bigint | null,
    kind: r.kind as JobRow["kind"],
    model: r.model as string,
    nodePubkey: r.node_pubkey as string | null,
    stream: r.stream as boolean,
    status: r.status as JobStatus,
    attempts: r.attempts as number,
    errorCode: r.error_code as string | null,
    enginePromptTokens: r.engine_prompt_tokens as number | null,
    engineCompletionTokens: r.engine_completion_tokens as number | null,
    countedPromptTokens: r.counted_prompt_tokens as number | null,
    countedCompletionTokens: r.counted_completion_tokens as number | null,
    promptTokens: r.prompt_tokens as number,
    completionTokens: r.completion_tokens as number,
    ttftMs: r.ttft_ms as number | null,
    latencyMs: r.latency_ms as number,
    createdAt: r.created_at as Date,
    finishedAt: r.finished_at as Date,
  };
}

/** Counts job rows, optionally by status. */
export async function countJobs(sql: Sql, status?: JobStatus): Promise<number> {
  const [r] = status
    ? await sql<{ n: bigint }[]>`select count(*) as n from jobs where status = ${status}`
    : await sql<{ n: bigint }[]>`select count(*) as n from jobs`;
  return Number(r.n);
}
