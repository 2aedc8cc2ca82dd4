// Models through Ollama's own API (https://github.com/ollama/ollama/blob/main/docs/api.md):
// `POST /api/pull {model, stream: true}` streams one JSON object per line —
// `{status}` steps and `{status, digest, total, completed}` per layer, then `{status: "success"}`,
// or `{error}` — and `DELETE /api/delete {model}` removes a model.
import { CliError } from "../cli_error.ts";
import { isRecord } from "../../shared/mod.ts";

/** Progress summed over the layers Ollama has reported so far. */
export interface OllamaPullProgress {
  status: string;
  doneBytes: number;
  totalBytes: number | null;
}

/** Options of `ollamaPull`. */
export interface OllamaPullOptions {
  baseUrl: string;
  model: string;
  onProgress?: (p: OllamaPullProgress) => void;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const text of body.pipeThrough(new TextDecoderStream() as TransformStream<Uint8Array, string>)) {
    buffer += text;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) yield line;
    }
  }
  if (buffer.trim()) yield buffer.trim();
}

/** Pulls a model into Ollama, reporting progress; resolves when Ollama says "success". */
export async function ollamaPull(opts: OllamaPullOptions): Promise<void> {
  const fetchFn = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await fetchFn(`${opts.baseUrl}/api/pull`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: opts.model, stream: true }),
      signal: opts.signal,
    });
  } catch (err) {
    if (opts.signal?.aborted) {
      throw new CliError("interrupted", "interrupted; Ollama resumes the pull next time", { exitCode: 130 });
    }
    throw new CliError("no_engine", `cannot reach Ollama at ${opts.baseUrl}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => "");
    let message = text.trim();
    try {
      const body = JSON.parse(text);
      if (isRecord(body) && typeof body.error === "string") message = body.error;
    } catch { /* keep the text */ }
    throw new CliError(
      "model_not_found",
      `Ollama could not pull ${opts.model}: ${message || `HTTP ${res.status}`}`,
    );
  }
  const layers = new Map<string, { total: number; completed: number }>();
  let success = false;
  try {
    for await (const line of lines(res.body)) {
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (!isRecord(msg)) continue;
      if (typeof msg.error === "string") {
        throw new CliError("model_not_found", `Ollama could not pull ${opts.model}: ${msg.error}`);
      }
      const status = typeof msg.status === "string" ? msg.status : "";
      if (typeof msg.digest === "string" && Number.isSafeInteger(msg.total)) {
        const completed = Number.isSafeInteger(msg.completed) ? msg.completed as number : 0;
        layers.set(msg.digest, { total: msg.total as number, completed });
      }
      if (status === "success") success = true;
      let done = 0;
      let total = 0;
      for (const l of layers.values()) {
        done += l.completed;
        total += l.total;
      }
      opts.onProgress?.({ status, doneBytes: done, totalBytes: total > 0 ? total : null });
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    if (opts.signal?.aborted) {
      throw new CliError("interrupted", "interrupted; Ollama resumes the pull next time", { exitCode: 130 });
    }
    throw new CliError("download_failed", `the pull from Ollama stopped: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!success) {
    throw new CliError("download_failed", `Ollama ended the pull of ${opts.model} without success`);
  }
}

/** Deletes a model from Ollama; false when Ollama does not have it. */
export async function ollamaDelete(
  baseUrl: string,
  model: string,
  fetchFn: typeof fetch = fetch,
): Promise<boolean> {
  const res = await fetchFn(`${baseUrl}/api/delete`, {
    method: "DELETE",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model }),
  });
  await res.body?.cancel();
  if (res.status === 404) return false;
  if (!res.ok) throw new CliError("no_engine", `Ollama refused to delete ${model}: HTTP ${res.status}`);
  return true;
}
