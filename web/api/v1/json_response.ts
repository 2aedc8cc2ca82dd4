// A non-streamed answer: the engine's body with its `usage` set to the tokens billed (OpenAI always
// sends `usage` on a non-streamed response); byte for byte the engine's when its usage already is.
import { isOpenAiErrorBody, openAiErrorBody, readUsage } from "../../../shared/mod.ts";
import { HttpError } from "../../http_error.ts";
import { jobHeaders, type StartedJob } from "./route_job.ts";
import { awaitSettled } from "../../jobs/job_run.ts";
import { consumerUsage, isSameUsage } from "./consumer_usage.ts";

const JSON_HEADERS = { "content-type": "application/json" };

/** Builds the consumer's response from the node's answer and ends the job; `collect` keeps
 * the completion text for our own count, and may return another body to send (the same answer
 * in the consumer's encoding). The answer is handed over once it is billed. */
export async function completeJsonResponse(
  started: StartedJob,
  collect: (parsed: unknown) => unknown,
): Promise<Response> {
  const { run, outcome } = started;
  const first = outcome.first;
  const headers = () => ({ ...JSON_HEADERS, ...jobHeaders(started) });
  if (first.type !== "response") {
    outcome.node.connection?.cancelJob(run.id, "streamed a non-stream request");
    run.end("failed", { errorCode: "bad_engine_output" });
    throw new HttpError(502, "The node streamed an answer to a non-streaming request.", {
      code: "node_failed",
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(first.body);
  } catch {
    parsed = undefined;
  }
  if (first.status >= 400) {
    // The engine judged the request itself wrong (a 4xx we do not retry): the consumer sees it.
    run.end("rejected", { errorCode: `engine_${first.status}` });
    const body = isOpenAiErrorBody(parsed) ? first.body : JSON.stringify(
      openAiErrorBody(first.status, `The engine refused the request: ${first.body.slice(0, 200)}`),
    );
    return new Response(body, { status: first.status, headers: headers() });
  }
  if (typeof parsed !== "object" || parsed === null) {
    run.end("failed", { errorCode: "bad_engine_output" });
    throw new HttpError(502, "The node's engine returned a body that is not JSON.", { code: "node_failed" });
  }
  const reshaped = collect(parsed);
  const engineUsage = (parsed as { usage?: unknown }).usage;
  run.engineUsage = readUsage(engineUsage);
  run.delivered = true;
  // Ending the job fixes the tokens billed (synchronously): the answer shows exactly those.
  const settled = run.end("completed");
  const usage = consumerUsage(run.meta.kind, run.billed!);
  const body = reshaped !== undefined
    ? JSON.stringify({ ...reshaped as Record<string, unknown>, usage })
    : isSameUsage(engineUsage, usage)
    ? first.body
    : JSON.stringify({ ...parsed, usage });
  await awaitSettled(settled);
  return new Response(body, { status: first.status, headers: headers() });
}
