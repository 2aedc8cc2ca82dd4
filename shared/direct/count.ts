// The consumer's own token count in direct mode (o200k_base, npm gpt-tokenizer): the prompt it
// declares when it asks for a route, and what it decrypted, for its usage acknowledgement. Same
// recipe as the control plane's count (web/metering/count_tokens.ts): OpenAI's cookbook adds 3
// tokens per message and 3 to prime the reply; a text that spells a special token is plain text.
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";

const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;
const PLAIN = { disallowedSpecial: new Set<string>() };

/** o200k tokens of a text. */
export function countTextTokens(text: string): number {
  return text === "" ? 0 : countTokens(text, PLAIN);
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => typeof p?.text === "string" ? p.text : "").join("");
}

/** o200k tokens of a chat prompt: each message's content, role and name, and the format's own. */
export function countPromptTokens(messages: readonly unknown[]): number {
  let n = REPLY_PRIMING;
  for (const m of messages) {
    const msg = (typeof m === "object" && m !== null ? m : {}) as Record<string, unknown>;
    n += PER_MESSAGE + countTextTokens(contentText(msg.content)) + countTextTokens(String(msg.role ?? ""));
    if (typeof msg.name === "string") n += 1 + countTextTokens(msg.name);
  }
  return n;
}
