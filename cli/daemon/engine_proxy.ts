// Runs one job against the local engine's OpenAI-compatible endpoint and reports it as frames:
// a non-streamed answer as one `response`, a stream as `chunks` (SSE payloads unchanged) ending in
// `end`, or `fail`. What the engine has already sent when a frame is due goes out in that one
// frame: engines write each token on its own, and a burst of them that arrived together costs one
// socket write (and one wake-up of the control plane) instead of one per token, with no timer.
// Aborting the signal cuts the request to the engine at once.
import { setImmediate } from "node:timers";
import { createParser } from "eventsource-parser";
import type { NodeFrame, ServerFrame } from "../../shared/mod.ts";
import type { EngineClient } from "./engine_http.ts";

/** The job frame the control plane sent. */
export type JobFrame = Extract<ServerFrame, { type: "job" }>;

const PATHS = { chat: "/v1/chat/completions", embeddings: "/v1/embeddings" } as const;

/** How long a role-only first chunk waits for the first token to travel with it. */
const ROLE_WAIT_MS = 2;

/** At most this many engine reads share one frame (an engine that never pauses still streams). */
const MAX_READS_PER_FRAME = 64;

/**
 * Resolves false after two turns of the event loop. A read of bytes the engine has already sent
 * completes within one turn, so it beats this; a read that must wait for the engine does not.
 */
function twoLoopTurns(): Promise<false> {
  return new Promise((resolve) => setImmediate(() => setImmediate(() => resolve(false))));
}

function arrivedFirst(read: Promise<unknown>, other: Promise<false>): Promise<boolean> {
  return Promise.race([read.then(() => true, () => true), other]);
}

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

/** Proxies a job to the engine; `send` delivers frames to the control plane. */
export async function proxyJob(
  job: JobFrame,
  engine: EngineClient,
  send: (frame: NodeFrame) => void,
  signal: AbortSignal,
): Promise<"completed" | "failed" | "cancelled"> {
  const id = job.job_id;
  let started = false;
  let batch: string[] = [];
  const flush = () => {
    if (batch.length === 0) return;
    send({ type: "chunks", job_id: id, data: batch });
    batch = [];
    started = true;
  };
  try {
    const res = await engine.post(
      PATHS[job.kind],
      JSON.stringify(job.body),
      { "content-type": "application/json", "x-request-id": id },
      signal,
    );
    const isStream = res.ok && job.stream && (res.header("content-type") ?? "").includes("text/event-stream");
    if (!isStream) {
      send({ type: "response", job_id: id, status: res.status, body: await res.text() });
      return res.ok ? "completed" : "failed";
    }
    let done = false;
    const parser = createParser({
      onEvent(event) {
        if (done) return;
        if (event.data === "[DONE]") done = true;
        else batch.push(event.data);
      },
    });
    const decoder = new TextDecoder();
    let ahead: Promise<Uint8Array | null> | null = null;
    try {
      let reads = 0;
      for (;;) {
        // Each read's bytes are valid until the next read: they are decoded before it starts.
        const bytes = await (ahead ?? res.read());
        ahead = null;
        if (bytes === null) break;
        reads++;
        parser.feed(decoder.decode(bytes, { stream: true }));
        if (!done && batch.length > 0 && reads < MAX_READS_PER_FRAME) {
          if (!started && batch.every(isRoleOnly)) {
            // Engines send the role chunk on its own, just before the first token: when that is
            // all there is, give the token a moment to join it, so both travel as one frame.
            ahead = res.read();
            let timer: ReturnType<typeof setTimeout> | undefined;
            const waited = new Promise<false>((r) => (timer = setTimeout(() => r(false), ROLE_WAIT_MS)));
            const arrived = await arrivedFirst(ahead, waited);
            clearTimeout(timer);
            if (arrived) continue;
          } else if (started) {
            // Past the first token: let what the engine has already sent join this frame.
            ahead = res.read();
            if (await arrivedFirst(ahead, twoLoopTurns())) continue;
          }
        }
        flush();
        reads = 0;
        if (done) {
          send({ type: "end", job_id: id });
          // Only the body's last bytes are left to read: the connection goes back for the next job.
          res.finish();
          return "completed";
        }
      }
    } finally {
      if (!done) {
        ahead?.catch(() => {});
        res.cancel();
      }
    }
    // OpenAI-compatible engines always close a stream with [DONE]; without it the stream was cut.
    flush();
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
    // What the engine sent before it failed still reaches the consumer (and is billed).
    flush();
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
