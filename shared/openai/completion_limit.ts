// How many completion tokens a chat request may generate, read the same way wherever a job is held
// for or admitted (the control plane's hold, a direct ticket, a relay voucher): an engine may read
// either limit field, and `n` choices may each use the whole limit.

/**
 * Why a request's limit fields are unusable where no schema checked them (a node admitting a
 * direct or relay job): `max_tokens`/`max_completion_tokens` not integers ≥ 0, `n` not ≥ 1; or null.
 */
export function completionFieldsProblem(body: Record<string, unknown>): string | null {
  for (const field of ["max_tokens", "max_completion_tokens"]) {
    const v = body[field];
    if (v !== undefined && v !== null && !(Number.isSafeInteger(v) && (v as number) >= 0)) {
      return `${field} must be an integer ≥ 0`;
    }
  }
  const n = body.n;
  if (n !== undefined && n !== null && !(Number.isSafeInteger(n) && (n as number) >= 1)) {
    return "n must be an integer ≥ 1";
  }
  return null;
}

/**
 * A chat request's completion limit as engines must see it: per choice, the smaller of
 * `max_completion_tokens` and `max_tokens` when both are set (an engine may read either, and
 * the worst case is reserved from the one it reads), or null; and the number of choices (`n`).
 * Fields already checked by the schema (positive integers); anything else counts as unset.
 */
export function completionLimit(
  body: Record<string, unknown>,
): { perChoice: number | null; choices: number } {
  const limits = [body.max_completion_tokens, body.max_tokens].filter((v): v is number =>
    Number.isSafeInteger(v) && (v as number) >= 0
  );
  const n = body.n;
  return {
    perChoice: limits.length === 0 ? null : Math.min(...limits),
    choices: Number.isSafeInteger(n) && (n as number) >= 1 ? n as number : 1,
  };
}

/**
 * The body an engine gets for a limit of `perChoice` tokens a choice: `max_tokens` only, which
 * every engine reads (`max_completion_tokens` is dropped, so no engine can pick a larger one).
 */
export function withCompletionLimit(
  body: Record<string, unknown>,
  perChoice: number,
): Record<string, unknown> {
  // Most requests already say just that: no copy of the body for them.
  if (body.max_tokens === perChoice && body.max_completion_tokens === undefined) return body;
  const { max_completion_tokens: _newer, ...rest } = body;
  return { ...rest, max_tokens: perChoice };
}
