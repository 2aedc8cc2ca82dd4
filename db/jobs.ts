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

/** What every list of jobs shows of a job (the usage log, the operator's jobs). */
export interface JobListItem {
  jobId: string;
  createdAt: Date;
  kind: string;
  model: string;
  status: JobStatus;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
}

/** The database columns behind a {@link JobListItem}, as {@link jobListColumns} selects them. */
export interface JobListColumns {
  id: string;
  created_at: Date;
  kind: string;
  model: string;
  status: JobStatus;
  prompt_tokens: number;
  completion_tokens: number;
  latency_ms: number;
}

/** `select` list of a {@link JobListItem} from `jobs j`. */
export function jobListColumns(sql: Sql | Tx) {
  return sql`j.id, j.created_at, j.kind, j.model, j.status, j.prompt_tokens, j.completion_tokens, j.latency_ms`;
}

/** A {@link JobListItem} from the columns {@link jobListColumns} selected. */
export function jobListItem(r: JobListColumns): JobListItem {
  return {
    jobId: r.id,
    createdAt: r.created_at,
    kind: r.kind,
    model: r.model,
    status: r.status,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    latencyMs: r.latency_ms,
  };
}

/** A position in a list of jobs, newest first: a job's time and id (job times are whole ms). */
export interface JobCursor {
  createdAt: Date;
  id: string;
}

/**
 * `and <job strictly older than the cursor>` for a keyset page (nothing without a cursor). The
 * time bound alone is an index condition on the (…, created_at) indexes; the id breaks ties.
 */
export function olderThan(sql: Sql | Tx, before: JobCursor | null | undefined) {
  return before
    ? sql`and j.created_at <= ${before.createdAt} and (j.created_at < ${before.createdAt} or j.id < ${before.id})`
    : sql``;
}

/** The INSERT of job rows (one array per column: a fixed 19 parameters for any batch size). */
export function insertJobsQuery(sql: Sql | Tx, jobs: JobRow[]) {
  const col = <T>(f: (j: JobRow) => T) => jobs.map(f);
  const num = (n: number | null) => (n === null ? null : String(n));
  return sql`
    insert into jobs (id, api_key_id, kind, model, node_pubkey, stream, status, attempts, error_code,
      engine_prompt_tokens, engine_completion_tokens, counted_prompt_tokens, counted_completion_tokens,
      prompt_tokens, completion_tokens, ttft_ms, latency_ms, created_at, finished_at)
    select * from unnest(
      ${col((j) => j.id)}::text[],
      ${col((j) => j.apiKeyId?.toString() ?? null)}::bigint[],
      ${col((j) => j.kind)}::text[],
      ${col((j) => j.model)}::text[],
      ${col((j) => j.nodePubkey)}::text[],
      ${col((j) => String(j.stream))}::boolean[],
      ${col((j) => j.status)}::text[],
      ${col((j) => String(j.attempts))}::int[],
      ${col((j) => j.errorCode)}::text[],
      ${col((j) => num(j.enginePromptTokens))}::int[],
      ${col((j) => num(j.engineCompletionTokens))}::int[],
      ${col((j) => num(j.countedPromptTokens))}::int[],
      ${col((j) => num(j.countedCompletionTokens))}::int[],
      ${col((j) => String(j.promptTokens))}::int[],
      ${col((j) => String(j.completionTokens))}::int[],
      ${col((j) => num(j.ttftMs))}::int[],
      ${col((j) => String(j.latencyMs))}::int[],
      ${col((j) => j.createdAt.toISOString())}::timestamptz[],
      ${col((j) => j.finishedAt.toISOString())}::timestamptz[]
    )
    on conflict (id) do nothing`;
}

/** Records finished jobs in one statement; a job already recorded keeps its first row. */
export async function insertJobs(sql: Sql | Tx, jobs: JobRow[]): Promise<number> {
  if (jobs.length === 0) return 0;
  const result = await insertJobsQuery(sql, jobs);
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
