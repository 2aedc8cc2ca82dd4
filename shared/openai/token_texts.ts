// What a chat request's and answer's token counts are made of, wherever they are counted (the control
// plane's meter, a direct consumer's own count): the texts, and the tokens the format adds around
// them. OpenAI's cookbook adds 3 tokens per message and 3 to prime the reply; a tool call counts its
// name and arguments and TOOL_CALL_TOKENS for the markup a chat template wraps it in (Hermes- and
// Llama-style templates spend ~8–14 tokens on `<tool_call>{"name": …, "arguments": …}</tool_call>`).
// Reasoning (`reasoning_content`, or `reasoning`) and a `refusal` are generated text too: they are
// counted, though only `content` is the answer's text (its artifact hash, docs/protocol.md §11).

/** Tokens OpenAI's chat format adds per message. */
export const PER_MESSAGE_TOKENS = 3;
/** Tokens OpenAI's chat format adds to prime the reply. */
export const REPLY_PRIMING_TOKENS = 3;
/** Tokens a chat template adds around one tool call, besides its name and arguments. */
export const TOOL_CALL_TOKENS = 10;

/** Texts to count, and tokens to add for the format around them. */
export interface TokenTexts {
  texts: string[];
  fixed: number;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/** A message's `content`: a string, or the text of its parts. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => isObject(p) && typeof p.text === "string" ? p.text : "").join("");
}

/** The tool calls of a message or delta (`tool_calls`, or the older single `function_call`). */
function toolCalls(part: Record<string, unknown>): Record<string, unknown>[] {
  const calls = Array.isArray(part.tool_calls) ? part.tool_calls : [];
  const fns = calls.flatMap((c) => isObject(c) && isObject(c.function) ? [c.function] : []);
  if (isObject(part.function_call)) fns.push(part.function_call);
  return fns;
}

/** Adds what tool calls generate: each piece of name and arguments, and the markup of each new call. */
function addToolCalls(part: Record<string, unknown>, out: TokenTexts): void {
  if (part.tool_calls == null && part.function_call == null) return; // most deltas: nothing built
  for (const fn of toolCalls(part)) {
    if (typeof fn.name === "string" && fn.name !== "") {
      out.texts.push(fn.name);
      out.fixed += TOOL_CALL_TOKENS;
    }
    if (typeof fn.arguments === "string") out.texts.push(fn.arguments);
    else if (fn.arguments !== undefined && fn.arguments !== null) {
      out.texts.push(JSON.stringify(fn.arguments));
    }
  }
}

/** A chat prompt's texts: each message's content, role, name and tool calls; each tool's definition. */
export function chatPromptTexts(messages: readonly unknown[], tools?: unknown): TokenTexts {
  const out: TokenTexts = { texts: [], fixed: REPLY_PRIMING_TOKENS };
  for (const m of messages) {
    const msg = isObject(m) ? m : {};
    out.fixed += PER_MESSAGE_TOKENS;
    out.texts.push(contentText(msg.content), String(msg.role ?? ""));
    if (typeof msg.name === "string") {
      out.fixed += 1;
      out.texts.push(msg.name);
    }
    addToolCalls(msg, out);
  }
  // A template renders each tool's definition (its JSON, near enough) into the prompt.
  if (Array.isArray(tools)) { for (const t of tools) if (isObject(t)) out.texts.push(JSON.stringify(t)); }
  return out;
}

/**
 * What a choice's `message` (or a stream's `delta`) generated besides its `content`: reasoning, a
 * refusal, tool calls. Pieces of one stream add up to what the whole message would count.
 */
export function generatedBesideContent(part: unknown): TokenTexts {
  const out: TokenTexts = { texts: [], fixed: 0 };
  addGeneratedBesideContent(part, out);
  return out;
}

/** {@link generatedBesideContent}, added to `out`: a delta of content alone adds nothing, and builds nothing. */
export function addGeneratedBesideContent(part: unknown, out: TokenTexts): void {
  if (!isObject(part)) return;
  // Servers that send both name the same text twice: one is counted.
  const reasoning = typeof part.reasoning_content === "string" ? part.reasoning_content : part.reasoning;
  if (typeof reasoning === "string" && reasoning !== "") out.texts.push(reasoning);
  if (typeof part.refusal === "string" && part.refusal !== "") out.texts.push(part.refusal);
  addToolCalls(part, out);
}
