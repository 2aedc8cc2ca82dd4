// What an operator's dashboard reads about one node: the jobs it served (newest first, a page at a
// time by keyset, so the hundred-thousandth job is as quick as the first) with what each earned,
// and its recent track record. Both read `jobs` through `jobs_node_created`.
import type { Sql } from "./client.ts";
import {
  type JobCursor,
  type JobListColumns,
  jobListColumns,
  type JobListItem,
  jobListItem,
  olderThan,
} from "./jobs.ts";

/** One job a node served. `earned` is the operator's share (nano-USD); 0 when nothing was charged. */
export interface NodeJobRow extends JobListItem {
  earned: bigint;
  ttftMs: number | null;
}

/** A page of a node's jobs and the cursor of the next (older) page, if any. */
export interface NodeJobsPage {
  jobs: NodeJobRow[];
  next: JobCursor | null;
}

/**
 * A node's jobs, newest first, `limit` at a time, starting after `before`. The time bound is an
 * index condition on `jobs_node_created`; the id only breaks ties within one timestamp.
 */
export async function listNodeJobs(
  sql: Sql,
  nodePubkey: string,
  opts: { before?: JobCursor | null; limit?: number } = {},
): Promise<NodeJobsPage> {
  const limit = Math.max(1, Math.min(opts.limit ?? 50, 500));
  const rows = await sql<(JobListColumns & { earned: bigint; ttft_ms: number | null })[]>`
    select ${jobListColumns(sql)}, coalesce(c.operator_share, 0)::int8 as earned, j.ttft_ms
    from jobs j left join job_charges c on c.job_id = j.id
    where j.node_pubkey = ${nodePubkey} ${olderThan(sql, opts.before)}
    order by j.created_at desc, j.id desc
    limit ${limit + 1}`;
  const jobs = rows.slice(0, limit).map((r) => ({ ...jobListItem(r), earned: r.earned, ttftMs: r.ttft_ms }));
  const last = jobs.at(-1);
  return { jobs, next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.jobId } : null };
}

/** A node's track record over a window: jobs, completed ones, and their median latency. */
export interface NodeJobStats {
  jobs: number;
  completed: number;
  /** Median wall time of completed jobs, ms; null without any. */
  medianLatencyMs: number | null;
  /** Median time to first token of completed jobs, ms; null without any. */
  medianTtftMs: number | null;
}

/** The node's jobs created at or after `since`. */
export async function nodeJobStats(sql: Sql, nodePubkey: string, since: Date): Promise<NodeJobStats> {
  const [r] = await sql<
    { jobs: bigint; completed: bigint; latency: number | null; ttft: number | null }[]
  >`
    select count(*)::int8 as jobs,
      count(*) filter (where status = 'completed')::int8 as completed,
      percentile_disc(0.5) within group (order by latency_ms) filter (where status = 'completed') as latency,
      percentile_disc(0.5) within group (order by ttft_ms) filter (where status = 'completed') as ttft
    from jobs where node_pubkey = ${nodePubkey} and created_at >= ${since}`;
  return {
    jobs: Number(r.jobs),
    completed: Number(r.completed),
    medianLatencyMs: r.latency,
    medianTtftMs: r.ttft,
  };
}
