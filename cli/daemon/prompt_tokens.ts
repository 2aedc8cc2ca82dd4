// The node's count of a direct request's prompt (docs/protocol.md §14): gpt-tokenizer's o200k count
// of the messages' text. The consumer's count for its ticket also adds the roles and the chat
// format's tokens, so this one is never above it for an honest prompt. Loaded on first use (a daemon
// serving POST /direct loads it at start), so commands that never take a direct request do not load
// the vocabulary.
import { isRecord } from "../../shared/mod.ts";

type Counter = (text: string) => number;
let counter: Promise<Counter> | null = null;

function loadCounter(): Promise<Counter> {
  counter ??= import("gpt-tokenizer/encoding/o200k_base").then(({ countTokens }) => (text: string) =>
    // Special-token spellings in a prompt are ordinary text to the node, not control tokens.
    countTokens(text, { disallowedSpecial: new Set() })
  );
  return counter;
}

/** The text of a chat message's content: a string, or the text parts of an array. */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => (isRecord(p) && typeof p.text === "string" ? p.text : "")).join("");
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

/** The UTF-8 length of `text`, without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A surrogate pair is 4 bytes, 2 per unit; a lone surrogate is written as U+FFFD, 3 bytes.
    bytes += c < 0x80
      ? 1
      : c < 0x800
      ? 2
      : c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
      ? (i++, 4)
      : 3;
  }
  return bytes;
}

/**
 * The messages' o200k count when it is over `limit`, else null. A token is at least one byte, so
 * text of at most `limit` UTF-8 bytes is within it without running the tokenizer.
 */
export async function promptTokensOver(messages: readonly unknown[], limit: number): Promise<number | null> {
  let bytes = 0;
  for (const m of messages) {
    if (isRecord(m)) bytes += utf8Length(contentText(m.content));
    if (bytes > limit) break;
  }
  if (bytes <= limit) return null;
  const counted = await countPromptTokens(messages);
  return counted > limit ? counted : null;
}
