// The settlement journal's format (web/jobs/settlement_journal.ts): segment file names, the
// header line, and one line per finished job — encoded exactly, and decoded as untrusted input,
// since a segment is read back after a crash.
import type { JobRow, JobStatus, Settlement } from "../../db/mod.ts";

/** A segment being written or kept for replay. */
export const SUFFIX = ".jsonl";
/** A segment still being created (its process died if it is found unlocked). */
export const TMP_SUFFIX = ".jsonl.tmp";
/** A damaged segment, kept for inspection and never replayed. */
export const BAD_SUFFIX = ".jsonl.bad";

/** One finished job as journaled. */
export interface JournalEntry {
  row: JobRow;
  settlement: Settlement | null;
}

/** A segment's first line: the ledger it was written for and the instance that wrote it. */
export interface Header {
  journal: 1;
  ledger: string;
  instance: string;
  createdAt: string;
}

/** The header of a segment's first line, or null when the line is not one. */
export function decodeHeader(line: string): Header | null {
  try {
    const h = JSON.parse(line);
    return h?.journal === 1 && typeof h.ledger === "string" ? h : null;
  } catch {
    return null;
  }
}

const big = (v: bigint | null) => (v === null ? null : v.toString());

/** One journal line (no newline): bigints as decimal strings, times as epoch milliseconds. */
export function encodeEntry({ row, settlement: s }: JournalEntry): string {
  return JSON.stringify({
    row: {
      ...row,
      apiKeyId: big(row.apiKeyId),
      createdAt: row.createdAt.getTime(),
      finishedAt: row.finishedAt.getTime(),
    },
    settlement: s && {
      ...s,
      promptPer1k: big(s.promptPer1k),
      completionPer1k: big(s.completionPer1k),
      cost: big(s.cost),
      lease: s.lease ? { id: s.lease.id, apiKeyId: big(s.lease.apiKeyId), hold: big(s.lease.hold) } : null,
    },
  });
}

function field<T>(o: Record<string, unknown>, k: string, type: string, nullable = false): T {
  const v = o[k];
  if ((nullable && v === null) || typeof v === type) return v as T;
  throw new Error(`journal entry: ${k} is not a ${type}${nullable ? " or null" : ""}`);
}

/** A whole number ≥ 0 that fits the database's `integer` (and, for times, a valid Date). */
function intField(o: Record<string, unknown>, k: string, max = 2 ** 31 - 1): number {
  const v = field<number>(o, k, "number");
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new Error(`journal entry: ${k} is out of range`);
  return v;
}

const MAX_TIME_MS = 8.64e15;
const JOB_STATUSES: readonly JobStatus[] = ["completed", "failed", "cancelled", "timeout", "rejected"];

function bigField(o: Record<string, unknown>, k: string): bigint {
  const v = field<string>(o, k, "string");
  if (!/^\d{1,19}$/.test(v) || BigInt(v) > 2n ** 63n - 1n) {
    throw new Error(`journal entry: ${k} is not an integer in range`);
  }
  return BigInt(v);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`journal entry: no ${what}`);
  return v as Record<string, unknown>;
}

/** Parses a journal line; throws on anything that is not a whole, well-formed entry. */
export function decodeEntry(line: string): JournalEntry {
  const o = obj(JSON.parse(line), "entry");
  const r = obj(o.row, "row");
  const num = (k: string) => intField(r, k);
  const numOrNull = (k: string) => (r[k] === null ? null : intField(r, k));
  const time = (k: string) => new Date(intField(r, k, MAX_TIME_MS));
  const kind = field<string>(r, "kind", "string");
  const status = field<string>(r, "status", "string");
  if (kind !== "chat" && kind !== "embeddings") throw new Error("journal entry: unknown kind");
  if (!JOB_STATUSES.includes(status as JobStatus)) throw new Error("journal entry: unknown status");
  const row: JobRow = {
    id: field(r, "id", "string"),
    apiKeyId: r.apiKeyId === null ? null : bigField(r, "apiKeyId"),
    kind,
    model: field(r, "model", "string"),
    nodePubkey: field(r, "nodePubkey", "string", true),
    stream: field(r, "stream", "boolean"),
    status: status as JobStatus,
    attempts: num("attempts"),
    errorCode: field(r, "errorCode", "string", true),
    enginePromptTokens: numOrNull("enginePromptTokens"),
    engineCompletionTokens: numOrNull("engineCompletionTokens"),
    countedPromptTokens: numOrNull("countedPromptTokens"),
    countedCompletionTokens: numOrNull("countedCompletionTokens"),
    promptTokens: num("promptTokens"),
    completionTokens: num("completionTokens"),
    ttftMs: numOrNull("ttftMs"),
    latencyMs: num("latencyMs"),
    createdAt: time("createdAt"),
    finishedAt: time("finishedAt"),
  };
  if (o.settlement === null) return { row, settlement: null };
  const s = obj(o.settlement, "settlement");
  const lease = s.lease === null || s.lease === undefined ? null : obj(s.lease, "lease");
  const settlement: Settlement = {
    jobId: field(s, "jobId", "string"),
    nodePubkey: field(s, "nodePubkey", "string", true),
    promptTokens: intField(s, "promptTokens"),
    completionTokens: intField(s, "completionTokens"),
    promptPer1k: bigField(s, "promptPer1k"),
    completionPer1k: bigField(s, "completionPer1k"),
    feeBps: intField(s, "feeBps", 10_000),
    cost: bigField(s, "cost"),
    lease: lease && {
      id: field(lease, "id", "string"),
      apiKeyId: bigField(lease, "apiKeyId"),
      hold: bigField(lease, "hold"),
    },
  };
  if (settlement.jobId !== row.id) throw new Error("journal entry: settlement of another job");
  return { row, settlement };
}
