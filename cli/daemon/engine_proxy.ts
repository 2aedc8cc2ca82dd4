// Runs one job against the local engine's OpenAI-compatible endpoint and reports it as frames:
// a non-streamed answer as one `response`, a stream as `chunks` (SSE payloads unchanged) ending in
// `end`, or `fail`. All events that arrive in one read from the engine go out as one frame: no
// waiting, and a burst of tokens costs one socket write instead of one per token. Aborting the
// signal cuts the request to the engine at once.
import { createParser } from "eventsource-parser";
import type { NodeFrame, ServerFrame } from "../../shared/mod.ts";

/** The job frame the control plane sent. */
export type JobFrame = Extract<ServerFrame, { type: "job" }>;

const PATHS = { chat: "/v1/chat/completions", embeddings: "/v1/embeddings" } as const;

/** How long a role-only first chunk waits for the first token to travel with it. */
const ROLE_WAIT_MS = 2;

/** A chunk that only opens the assistant's message (no content, tool call or finish yet). */
function isRoleOnly(data: string): boolean {
  if (!data.includes('"role"')) return false;
  try {
    const choices = JSON.parse(data).choices;
    return Array.isArray(choices) && choices.length > 0 &&
      choices.every((c: { delta?: Record<string, unknown>; finish_reason?: unknown }) =>
        !c.finish_reason && c.delta !== undefined &&
        Object.entries(c.delta).every(([k, v]) => k === "role" || v === "" || v === null)
      );
  } catch {
    return false;
  }
}

/** Proxies a job to the engine at `engineBaseUrl`; `send` delivers frames to the control plane. */
export async function proxyJob(
  job: JobFrame,
  engineBaseUrl: string,
  send: (frame: NodeFrame) => void,
  signal: AbortSignal,
): Promise<"completed" | "failed" | "cancelled"> {
  const id = job.job_id;
  let started = false;
  try {
    const res = await fetch(engineBaseUrl + PATHS[job.kind], {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": id },
      body: JSON.stringify(job.body),
      signal,
    });
    const isStream = res.ok && job.stream &&
      (res.headers.get("content-type") ?? "").includes("text/event-stream");
    if (!isStream || !res.body) {
      send({ type: "response", job_id: id, status: res.status, body: await res.text() });
      return res.ok ? "completed" : "failed";
    }
    let batch: string[] = [];
    let done = false;
    const parser = createParser({
      onEvent(event) {
        if (done) return;
        if (event.data === "[DONE]") done = true;
        else batch.push(event.data);
      },
    });
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      let ahead: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
      for (;;) {
        const read = await (ahead ?? reader.read());
        ahead = null;
        if (read.done) break;
        parser.feed(decoder.decode(read.value, { stream: true }));
        // Engines send the role chunk on its own, just before the first token: when that is all
        // there is, give the token a moment to join it, so both cross the network as one frame.
        if (!started && !done && batch.length > 0 && batch.every(isRoleOnly)) {
          ahead = reader.read();
          let timer: ReturnType<typeof setTimeout> | undefined;
          const arrived = await Promise.race([
            ahead.then(() => true, () => true),
            new Promise<false>((r) => (timer = setTimeout(() => r(false), ROLE_WAIT_MS))),
          ]);
          clearTimeout(timer);
          if (arrived) continue;
        }
        if (batch.length > 0) {
          send({ type: "chunks", job_id: id, data: batch });
          batch = [];
          started = true;
        }
        if (done) {
          send({ type: "end", job_id: id });
          return "completed";
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    // OpenAI-compatible engines always close a stream with [DONE]; without it the stream was cut.
    send({
      type: "fail",
      job_id: id,
      code: "engine_stream_cut",
      message: "the engine's stream ended without [DONE]",
      started,
    });
    return "failed";
  } catch (err) {
    if (signal.aborted) return "cancelled";
    const message = err instanceof Error ? err.message : String(err);
    send({
      type: "fail",
      job_id: id,
      code: started ? "engine_died" : "engine_unreachable",
      message: `engine: ${message}`.slice(0, 300),
      started,
    });
    return "failed";
  }
}
