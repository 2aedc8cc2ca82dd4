// A non-streamed answer: passed through unchanged when the engine reported usage, with our own
// count filled in when it did not (OpenAI always sends `usage` on a non-streamed response).
import { isOpenAiErrorBody, openAiErrorBody, readUsage } from "../../../shared/mod.ts";
import { HttpError } from "../../http_error.ts";
import { jobHeaders, type StartedJob } from "./route_job.ts";
import { awaitSettled } from "../../jobs/job_run.ts";

const JSON_HEADERS = { "content-type": "application/json" };

/** Builds the consumer's response from the node's answer and ends the job; `collect` keeps
 * the completion text for our own count. The answer is handed over once it is billed. */
export async function completeJsonResponse(
  started: StartedJob,
  collect: (parsed: unknown) => void,
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
  collect(parsed);
  const usage = readUsage((parsed as { usage?: unknown }).usage);
  let body = first.body;
  if (usage) run.engineUsage = usage;
  else {
    const prompt = run.promptTokens ?? 0;
    const completion = run.countCompletion();
    body = JSON.stringify({
      ...parsed,
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    });
  }
  run.delivered = true;
  await awaitSettled(run.end("completed"));
  return new Response(body, { status: first.status, headers: headers() });
}
