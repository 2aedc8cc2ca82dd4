/** OpenAI's `usage` object on completions and embeddings. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Reads a well-formed `usage` object, or null when absent or malformed. */
export function readUsage(x: unknown): Usage | null {
  if (typeof x !== "object" || x === null) return null;
  const u = x as Record<string, unknown>;
  const p = u.prompt_tokens;
  const c = u.completion_tokens ?? 0;
  if (!Number.isSafeInteger(p) || !Number.isSafeInteger(c) || (p as number) < 0 || (c as number) < 0) {
    return null;
  }
  return {
    prompt_tokens: p as number,
    completion_tokens: c as number,
    total_tokens: (p as number) + (c as number),
  };
}
