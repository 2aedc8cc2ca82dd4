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
    for await (const bytes of res.body) {
      parser.feed(decoder.decode(bytes, { stream: true }));
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
