// The `before` parameter of a paged job list (usage log, operator's jobs): the last job shown, as
// `<ISO time>~<job id>`. Anything that does not parse is the first page.
import type { JobCursor } from "../../db/mod.ts";

/** The `before` value that starts the page after the one ending at this job. */
export function formatJobCursor(c: JobCursor): string {
  return `${c.createdAt.toISOString()}~${c.id}`;
}

/** A `before` value → a cursor, or null (first page) when it is missing or malformed. */
export function parseJobCursor(value: string | undefined): JobCursor | null {
  const m = value ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)~(.{1,200})$/.exec(value) : null;
  const t = m ? Date.parse(m[1]) : NaN;
  return m && !Number.isNaN(t) ? { createdAt: new Date(t), id: m[2] } : null;
}
