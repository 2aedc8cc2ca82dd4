// Stage 2 of a `/v1` job: our count of its prompt, and the nodes whose context window takes it.
import type { JobKind } from "../../../shared/mod.ts";
import { HttpError } from "../../http_error.ts";
import type { JobRun } from "../../jobs/job_run.ts";
import type { LiveNode } from "../../registry/node_registry.ts";
import { countLimit, largestContext, nodesForPrompt } from "../../router/context_window.ts";

/**
 * Counts the prompt and keeps the nodes that can take it. A chat prompt no node's window takes
 * is a 400 (OpenAI's context_length_exceeded) and is not counted to its end; a consumer who left
 * while it was counted ends the job as cancelled (499).
 */
export async function countJobPrompt(
  run: JobRun,
  job: { kind: JobKind; model: string; signal: AbortSignal },
  nodes: LiveNode[],
): Promise<{ promptTokens: number; nodes: LiveNode[] }> {
  let promptTokens: number;
  try {
    // (An embedding request's count is its inputs' total; a window bounds each input alone.)
    promptTokens = await run.countPrompt(job.kind === "chat" ? countLimit(nodes, job.model) : Infinity);
  } catch (err) {
    if (!job.signal.aborted) {
      run.end("failed", { errorCode: "internal_error" });
      throw err;
    }
    run.end("cancelled", { errorCode: "client_disconnected" });
    throw new HttpError(499, "client closed the request", { code: "invalid_request" });
  }
  if (job.kind !== "chat") return { promptTokens, nodes };
  const fitting = nodesForPrompt(nodes, job.model, promptTokens);
  if (fitting.length === 0) {
    run.end("rejected", { errorCode: "context_length_exceeded" });
    const window = largestContext(nodes, job.model);
    throw new HttpError(
      400,
      `This model's maximum context length is ${window} tokens. However, your messages resulted ` +
        `in more than ${window} tokens. Please reduce the length of the messages.`,
      { code: "context_length_exceeded", param: "messages" },
    );
  }
  return { promptTokens, nodes: fitting };
}
