// The consumer's own token count in direct mode (o200k_base, npm gpt-tokenizer): the prompt it
// declares when it asks for a route, and what it decrypted, for its usage acknowledgement. Same
// recipe as the control plane's count (web/metering/count_tokens.ts): OpenAI's cookbook adds 3
// tokens per message and 3 to prime the reply; a text that spells a special token is plain text.
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import { chatPromptTexts, type TokenTexts } from "../openai/token_texts.ts";

const PLAIN = { disallowedSpecial: new Set<string>() };

/** o200k tokens of a text. */
export function countTextTokens(text: string): number {
  return text === "" ? 0 : countTokens(text, PLAIN);
}

/** o200k tokens of texts, and the format's own around them. */
export function countTokenTexts({ texts, fixed }: TokenTexts): number {
  return texts.reduce((n, t) => n + countTextTokens(t), fixed);
}

/** o200k tokens of a chat prompt: each message's content, role, name and tool calls, and the request's tools. */
export function countPromptTokens(messages: readonly unknown[], tools?: unknown): number {
  return countTokenTexts(chatPromptTexts(messages, tools));
}
