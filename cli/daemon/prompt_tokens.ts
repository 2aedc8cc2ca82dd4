// The node's count of a direct request's prompt (docs/protocol.md §14): gpt-tokenizer's o200k count
// of the messages' text. The consumer's count for its ticket also adds the roles and the chat
// format's tokens, so this one is never above it for an honest prompt. Loaded on first use (a daemon
// serving POST /direct loads it at start), so commands that never take a direct request do not load
// the vocabulary.
import { Buffer } from "node:buffer";
import { contentText, isRecord } from "../../shared/mod.ts";

type Counter = (text: string) => number;
let counter: Promise<Counter> | null = null;

function loadCounter(): Promise<Counter> {
  counter ??= import("gpt-tokenizer/encoding/o200k_base").then(({ countTokens }) => (text: string) =>
    // Special-token spellings in a prompt are ordinary text to the node, not control tokens.
    countTokens(text, { disallowedSpecial: new Set() })
  );
  return counter;
}

/** The o200k token count of the messages' text (contents, one after the other). */
export async function countPromptTokens(messages: readonly unknown[]): Promise<number> {
  const count = await loadCounter();
  let total = 0;
  for (const m of messages) {
    if (!isRecord(m)) continue;
    const text = contentText(m.content);
    if (text) total += count(text);
  }
  return total;
}

/**
 * The messages' o200k count when it is over `limit`, else null. A token is at least one byte, so
 * text of at most `limit` UTF-8 bytes is within it without running the tokenizer.
 */
export async function promptTokensOver(messages: readonly unknown[], limit: number): Promise<number | null> {
  let bytes = 0;
  for (const m of messages) {
    if (isRecord(m)) bytes += Buffer.byteLength(contentText(m.content), "utf8");
    if (bytes > limit) break;
  }
  if (bytes <= limit) return null;
  const counted = await countPromptTokens(messages);
  return counted > limit ? counted : null;
}
