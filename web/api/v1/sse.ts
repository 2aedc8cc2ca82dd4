// Server-sent events as OpenAI frames them: `data: <json>\n\n`, ending with `data: [DONE]\n\n`.
import { openAiErrorBody } from "../../../shared/mod.ts";

const encoder = new TextEncoder();

/** One `data:` frame. */
export function sseData(payload: string): Uint8Array {
  return encoder.encode(`data: ${payload}\n\n`);
}

/** The stream's last frame. */
export const SSE_DONE: Uint8Array = encoder.encode("data: [DONE]\n\n");

/** An error frame mid-stream; the OpenAI SDKs raise it as an APIError. */
export function sseError(message: string, code: string): Uint8Array {
  return sseData(JSON.stringify(openAiErrorBody(500, message, { code, type: "server_error" })));
}

/** Response headers for an event stream (no buffering by proxies). */
export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
} as const;
