// OpenAI's error object: https://platform.openai.com/docs/guides/error-codes
// The official SDKs map the HTTP status to an error class, so the status matters as much as the body.

/** OpenAI's error `type` values that the SDKs and users recognise. */
export type OpenAiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "insufficient_quota"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error"
  | "service_unavailable";

/** The JSON body OpenAI returns on an error: `{"error": {...}}`. */
export interface OpenAiErrorBody {
  error: { message: string; type: OpenAiErrorType; param: string | null; code: string | null };
}

/** The error type OpenAI uses for an HTTP status. */
export function errorTypeForStatus(status: number): OpenAiErrorType {
  if (status === 401 || status === 403) return "authentication_error";
  if (status === 402) return "insufficient_quota";
  if (status === 404) return "invalid_request_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "service_unavailable";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** Builds an OpenAI-shaped error body. */
export function openAiErrorBody(
  status: number,
  message: string,
  opts: { code?: string | null; param?: string | null; type?: OpenAiErrorType } = {},
): OpenAiErrorBody {
  return {
    error: {
      message,
      type: opts.type ?? errorTypeForStatus(status),
      param: opts.param ?? null,
      code: opts.code ?? null,
    },
  };
}

/** True when `x` looks like an OpenAI error body (as an engine might return it). */
export function isOpenAiErrorBody(x: unknown): x is OpenAiErrorBody {
  if (typeof x !== "object" || x === null) return false;
  const e = (x as { error?: unknown }).error;
  return typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string";
}
