// The built-in engine's one error: an HTTP status and message, rendered once as OpenAI's error JSON.
import { openAiErrorBody } from "../../../shared/mod.ts";

/** A request the engine refuses or cannot serve; `code` and `param` as OpenAI writes them. */
export class EngineError extends Error {
  readonly status: number;
  readonly code: string | null;
  readonly param: string | null;

  constructor(
    status: number,
    message: string,
    opts: { code?: string; param?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.status = status;
    this.code = opts.code ?? null;
    this.param = opts.param ?? null;
  }
}

/** OpenAI's error response for any thrown value (unknown errors are a 500 without details). */
export function errorResponse(err: unknown): Response {
  const e = err instanceof EngineError
    ? err
    : new EngineError(500, "the built-in engine failed", { cause: err });
  const body = openAiErrorBody(e.status, e.message, { code: e.code, param: e.param });
  return Response.json(body, { status: e.status });
}
