// The `usage` a consumer is shown: exactly the tokens billed (docs/protocol.md, §6 Metering), never
// the node's own claim, which goes to the job row and the receipt. Only OpenAI's three counts are
// sent; the engine's other usage fields (`prompt_tokens_details`, ...) are dropped: we cannot check them.
import type { BilledTokens } from "../../billing/billed_tokens.ts";

/** OpenAI's `usage` for chat (`completion_tokens` included) or embeddings (prompt only). */
export type ConsumerUsage =
  | { prompt_tokens: number; completion_tokens: number; total_tokens: number }
  | { prompt_tokens: number; total_tokens: number };

/** The `usage` object for a job of `kind` billed `tokens`. */
export function consumerUsage(kind: "chat" | "embeddings", tokens: BilledTokens): ConsumerUsage {
  if (kind === "embeddings") return { prompt_tokens: tokens.prompt, total_tokens: tokens.prompt };
  return {
    prompt_tokens: tokens.prompt,
    completion_tokens: tokens.completion,
    total_tokens: tokens.prompt + tokens.completion,
  };
}

/** True when `x` is exactly `usage` (the same keys and values, in any order). */
export function isSameUsage(x: unknown, usage: ConsumerUsage): boolean {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const keys = Object.keys(x);
  const want = usage as Record<string, number>;
  return keys.length === Object.keys(want).length &&
    keys.every((k) => (x as Record<string, unknown>)[k] === want[k]);
}

/** A choice's `index` when it is a valid one, else its position in `choices`. */
export function choiceIndex(choice: unknown, position: number): number {
  const i = (choice as { index?: unknown } | null)?.index;
  return Number.isSafeInteger(i) && (i as number) >= 0 ? i as number : position;
}
