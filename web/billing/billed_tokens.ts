// Which tokens a finished job is billed for. Only what reached the consumer is billed: a
// completed job in full; a stream that failed, timed out or was cancelled after some chunks went
// out, for its prompt and the completion delivered; anything else, nothing.
import type { JobStatus } from "../../db/mod.ts";
import type { Usage } from "../../shared/mod.ts";
import { usageDiverges } from "../metering/count_tokens.ts";

/** What the meter knows when a job ends. */
export interface MeterReading {
  status: JobStatus;
  /** Whether any output reached the consumer (a streamed chunk, or the answer). */
  delivered: boolean;
  engineUsage: Usage | null;
  countedPrompt: number;
  countedCompletion: number;
}

/** The tokens a job is billed for (and the `usage` its consumer is shown). */
export interface BilledTokens {
  prompt: number;
  completion: number;
}

/**
 * The tokens to bill. The engine's usage is used when it is close to our own count; when it
 * diverges (a node may misreport) or is missing, our count is billed instead.
 */
export function billedTokens(m: MeterReading): BilledTokens {
  if (
    !m.delivered || (m.status !== "completed" && m.status !== "cancelled" && m.status !== "failed" &&
      m.status !== "timeout")
  ) {
    return { prompt: 0, completion: 0 };
  }
  const u = m.engineUsage;
  const prompt = u && !usageDiverges(u.prompt_tokens, m.countedPrompt) ? u.prompt_tokens : m.countedPrompt;
  // Only a completed job's engine count covers exactly what was delivered.
  const completion = m.status === "completed" && u && !usageDiverges(u.completion_tokens, m.countedCompletion)
    ? u.completion_tokens
    : m.countedCompletion;
  return { prompt, completion };
}
