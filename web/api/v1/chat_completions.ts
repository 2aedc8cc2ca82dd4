// POST /v1/chat/completions: https://platform.openai.com/docs/api-reference/chat/create
// Streams pass through unchanged, chunk by chunk; usage is always metered, and sent to the
// consumer when asked (`stream_options.include_usage`) even if the engine does not report it.
import type { AppContext } from "../../app_env.ts";
import { parseChatRequest, readUsage } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { countChatPromptTokensYielding } from "../../metering/count_tokens.ts";
import { awaitSettled, type JobRun } from "../../jobs/job_run.ts";
import { type JobEvent, TIMED_OUT } from "../../dispatch/job_channel.ts";
import { jobHeaders, parseOrThrow, type StartedJob, startJob } from "./route_job.ts";
import { completeJsonResponse } from "./json_response.ts";
import { SSE_DONE, SSE_HEADERS, sseError } from "./sse.ts";

const encoder = new TextEncoder();

/** The handler for chat completions. */
export function chatCompletions(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const req = parseOrThrow(() => parseChatRequest(c.get("body")));
    const body = req.stream
      ? {
        ...req.body,
        // Always ask the engine for usage: the job is metered whether or not the consumer wants it.
        stream_options: { ...(req.body.stream_options as object | undefined), include_usage: true },
      }
      : req.body;
    const started = await startJob(cp, c, {
      kind: "chat",
      model: req.model,
      stream: req.stream,
      provider: req.provider,
      body,
      countPrompt: (limit) => countChatPromptTokensYielding(req.messages, c.req.raw.signal, limit),
      maxTokens: req.maxTokens,
    });
    const first = started.outcome.first;
    if (!req.stream || first.type === "response") {
      return completeJsonResponse(started, (parsed) => {
        const text = (parsed as { choices?: { message?: { content?: unknown } }[] })
          .choices?.[0]?.message?.content;
        if (typeof text === "string") started.run.completionParts.push(text);
      });
    }
    return streamResponse(cp, started, req.includeUsage, c.req.raw.signal);
  };
}

/** What a chunk tells the meter; whether it goes on to the consumer. */
function meterChunk(run: JobRun, data: string, includeUsage: boolean, last: { chunk: unknown }) {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(data);
  } catch {
    return true; // Not ours to judge: pass it on unchanged.
  }
  last.chunk = parsed;
  const choices = parsed.choices as { delta?: { content?: unknown } }[] | undefined;
  const content = choices?.[0]?.delta?.content;
  if (typeof content === "string") run.completionParts.push(content);
  const usage = readUsage(parsed.usage);
  if (usage) run.engineUsage = usage;
  // The usage-only chunk (empty choices) goes out only if the consumer asked for it.
  return includeUsage || !(usage && Array.isArray(choices) && choices.length === 0);
}

/** Meters a batch and frames what goes on to the consumer ("" when nothing). */
function meterChunks(run: JobRun, batch: string[], includeUsage: boolean, last: { chunk: unknown }): string {
  let out = "";
  for (const data of batch) if (meterChunk(run, data, includeUsage, last)) out += `data: ${data}\n\n`;
  return out;
}

function usageChunk(run: JobRun, last: unknown): string {
  const prompt = run.promptTokens ?? 0;
  const completion = run.countCompletion();
  const l = (last ?? {}) as Record<string, unknown>;
  return JSON.stringify({
    id: l.id ?? run.id,
    object: "chat.completion.chunk",
    created: l.created ?? Math.floor(run.createdAt.getTime() / 1000),
    model: l.model ?? run.meta.model,
    choices: [],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  });
}

function streamResponse(
  cp: ControlPlane,
  started: StartedJob,
  includeUsage: boolean,
  signal: AbortSignal,
): Response {
  const { run, outcome } = started;
  const conn = outcome.node.connection!;
  let pending: JobEvent | null = outcome.first;
  let finished = false;
  const last = { chunk: null as unknown };
  let settled: Promise<void> = Promise.resolve();
  const finish = (status: "completed" | "failed" | "cancelled" | "timeout", code?: string) => {
    if (finished) return false;
    finished = true;
    signal.removeEventListener("abort", onAbort);
    if (status !== "timeout") settled = run.end(status, { errorCode: code ?? null });
    return true;
  };
  const onAbort = () => {
    if (!finished) {
      conn.cancelJob(run.id, "client disconnected");
      finish("cancelled", "client_disconnected");
    }
  };
  signal.addEventListener("abort", onAbort, { once: true });

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // The first batch is here already: hand it over now rather than on the first pull.
      if (pending?.type === "chunks") {
        const out = meterChunks(run, pending.data, includeUsage, last);
        if (out) {
          controller.enqueue(encoder.encode(out));
          run.delivered = true;
        }
        pending = null;
      }
      run.onAbort = (reason) => {
        conn.cancelJob(run.id, reason);
        if (finish("timeout")) {
          controller.enqueue(sseError(`The job was stopped: ${reason}.`, "job_timeout"));
          controller.close();
        }
      };
    },
    async pull(controller) {
      // Everything the node has already sent goes out in one write: the chunks, and the stream's
      // end when it came with them (the consumer wakes once, not once per frame).
      let out = "";
      const send = (tail: Uint8Array | null = null) => {
        if (out) run.delivered = true;
        const bytes = encoder.encode(out);
        if (!tail) return controller.enqueue(bytes);
        const all = new Uint8Array(bytes.length + tail.length);
        all.set(bytes);
        all.set(tail, bytes.length);
        controller.enqueue(all);
      };
      while (!finished) {
        const ev = pending ??
          (out ? outcome.channel.poll() : await outcome.channel.next(cp.config.streamIdleTimeoutMs));
        pending = null;
        if (finished) return;
        if (ev === null) return send();
        if (ev === TIMED_OUT) {
          conn.cancelJob(run.id, "stream went silent");
          send(sseError(
            `The node sent nothing for ${cp.config.streamIdleTimeoutMs} ms; the stream was stopped.`,
            "node_timeout",
          ));
          controller.close();
          finish("failed", "node_timeout");
          return;
        }
        if (ev.type === "chunks") {
          out += meterChunks(run, ev.data, includeUsage, last);
          continue;
        }
        if (ev.type === "end") {
          if (includeUsage && !run.engineUsage) out += `data: ${usageChunk(run, last.chunk)}\n\n`;
          // `[DONE]` goes out once the job is billed, so a crash cannot leave delivered work unbilled.
          finish("completed");
          await awaitSettled(settled);
          send(SSE_DONE);
          controller.close();
          return;
        }
        const reason = ev.type === "fail"
          ? `${ev.code}: ${ev.message}`
          : ev.type === "lost"
          ? ev.reason
          : `engine answered ${ev.status} mid-stream`;
        cp.log.info("stream failed mid-way", { jobId: run.id, node: conn.pubkey, reason });
        send(sseError(`The node failed mid-stream (${reason}).`, "node_failed"));
        controller.close();
        finish("failed", "node_failed");
        return;
      }
    },
    cancel() {
      onAbort();
    },
  });
  return new Response(body, { headers: { ...SSE_HEADERS, ...jobHeaders(started) } });
}
