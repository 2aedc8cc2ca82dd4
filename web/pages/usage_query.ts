// The usage log's filters from a query string (model, status, from, to as YYYY-MM-DD) and its
// page (`before`: the last job shown, `<ISO time>~<job id>`), parsed once; anything invalid is
// dropped rather than trusted.
import type { JobStatus, UsageFilter } from "../../db/mod.ts";
import { parseJobCursor } from "./job_cursor.ts";

const STATUSES = new Set<string>(["completed", "failed", "cancelled", "timeout", "rejected"]);
const DAY_MS = 86_400_000;

/** The filter for the database and the accepted parameters (to re-fill the form and the CSV link). */
export interface UsageQuery {
  filter: UsageFilter;
  params: { model?: string; status?: string; from?: string; to?: string };
}

function day(value: string | undefined): Date | null {
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const t = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(t) ? null : new Date(t);
}

/** Parses the filters and the page; `to` includes its whole day. */
export function parseUsageQuery(q: Record<string, string | undefined>, limit: number): UsageQuery {
  const params: UsageQuery["params"] = {};
  const filter: UsageFilter = { limit };
  const model = q.model?.trim();
  if (model && model.length <= 200) filter.model = params.model = model;
  if (q.status && STATUSES.has(q.status)) {
    filter.status = q.status as JobStatus;
    params.status = q.status;
  }
  const from = day(q.from);
  if (from) {
    filter.from = from;
    params.from = q.from;
  }
  const to = day(q.to);
  if (to) {
    filter.to = new Date(to.getTime() + DAY_MS);
    params.to = q.to;
  }
  filter.before = parseJobCursor(q.before);
  return { filter, params };
}
