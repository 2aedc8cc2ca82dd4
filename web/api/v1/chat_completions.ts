// POST /v1/chat/completions: https://platform.openai.com/docs/api-reference/chat/create
// Streams pass through unchanged, chunk by chunk; usage is always metered, and sent to the
// consumer when asked (`stream_options.include_usage`) even if the engine does not report it: one
// usage chunk before `[DONE]`, showing the tokens billed (the engine's own usage chunk is held back).
import type { AppContext } from "../../app_env.ts";
import { parseChatRequest, readUsage } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { countChatPromptTokensYielding } from "../../metering/count_tokens.ts";
import { awaitSettled, type JobRun } from "../../jobs/job_run.ts";
import { type JobEvent, TIMED_OUT } from "../../dispatch/job_channel.ts";
import { jobHeaders, parseOrThrow, type StartedJob, startJob } from "./route_job.ts";
import { completeJsonResponse } from "./json_response.ts";
import { SSE_DONE, SSE_HEADERS, sseError } from "./sse.ts";
import { choiceIndex, consumerUsage } from "./consumer_usage.ts";

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
      countPrompt: (limit) =>
        countChatPromptTokensYielding(req.messages, c.req.raw.signal, limit, req.body.tools),
      maxTokens: req.maxTokens,
      choices: req.choices,
    });
    const first = started.outcome.first;
    if (!req.stream || first.type === "response") {
      return completeJsonResponse(started, (parsed) => {
        const choices = (parsed as { choices?: unknown }).choices;
        if (!Array.isArray(choices)) return;
        for (const [position, choice] of choices.entries()) {
          const message = (choice as { message?: { content?: unknown } } | null)?.message;
          if (typeof message?.content === "string") {
            started.run.addOutput(choiceIndex(choice, position), message.content);
          }
          started.run.addGenerated(message);
        }
      });
    }
    return streamResponse(cp, started, req.includeUsage, c.req.raw.signal);
  };
}

/** The stream's last chunk seen, and the engine's usage-only chunk (held back until the end). */
interface StreamState {
  chunk: Record<string, unknown> | null;
  usageChunk: Record<string, unknown> | null;
}

/** What a chunk tells the meter; what goes on to the consumer (null: nothing). */
function meterChunk(run: JobRun, data: string, state: StreamState): string | null {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(data);
  } catch {
    return data; // Not ours to judge: pass it on unchanged.
  }
  if (typeof parsed !== "object" || parsed === null) return data;
  state.chunk = parsed;
  const choices = parsed.choices;
  if (Array.isArray(choices)) {
    for (const [position, choice] of choices.entries()) {
      const delta = (choice as { delta?: { content?: unknown } } | null)?.delta;
      if (typeof delta?.content === "string") run.addOutput(choiceIndex(choice, position), delta.content);
      run.addGenerated(delta);
    }
  }
  const usage = readUsage(parsed.usage);
  if (!usage) return data;
  run.engineUsage = usage;
  // The node's usage never reaches the consumer: the usage-only chunk (empty choices) is held back
  // for the end, and a usage on a chunk with choices goes out as OpenAI's `null`.
  if (Array.isArray(choices) && choices.length === 0) {
    state.usageChunk = parsed;
    return null;
  }
  return JSON.stringify({ ...parsed, usage: null });
}

/** Meters a batch and frames what goes on to the consumer ("" when nothing). */
function meterChunks(run: JobRun, batch: string[], state: StreamState): string {
  let out = "";
  for (const data of batch) {
    const sent = meterChunk(run, data, state);
    if (sent !== null) out += `data: ${sent}\n\n`;
  }
  return out;
}

/** The usage chunk of an ended job: the engine's (or the last chunk's) fields, with the billed usage. */
function usageChunk(run: JobRun, state: StreamState): string {
  const usage = consumerUsage("chat", run.billed ?? { prompt: 0, completion: 0 });
  if (state.usageChunk) return JSON.stringify({ ...state.usageChunk, usage });
  const l = state.chunk ?? {};
  return JSON.stringify({
    id: l.id ?? run.id,
    object: "chat.completion.chunk",
    created: l.created ?? Math.floor(run.createdAt.getTime() / 1000),
    model: l.model ?? run.meta.model,
    choices: [],
    usage,
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
  const state: StreamState = { chunk: null, usageChunk: null };
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
        const out = meterChunks(run, pending.data, state);
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
          out += meterChunks(run, ev.data, state);
          continue;
        }
        if (ev.type === "end") {
          // What is about to go out counts as delivered (it is billed as such).
          if (out) run.delivered = true;
          // `[DONE]` goes out once the job is billed, so a crash cannot leave delivered work unbilled.
          finish("completed");
          if (includeUsage) out += `data: ${usageChunk(run, state)}\n\n`;
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
