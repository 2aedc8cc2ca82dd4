// OpenAI chat messages → the model's own prompt, as tokens. The model's chat template
// (`tokenizer.chat_template`) is applied through node-llama-cpp's chat wrappers, which keep
// special tokens apart from message text: a user who types "<|im_end|>" gets those characters,
// never the control token.
import type { ChatHistoryItem, ChatWrapper, LlamaModel, Token } from "node-llama-cpp";
import { resolveChatWrapper } from "node-llama-cpp";
import { EngineError } from "./engine_error.ts";

/** One OpenAI chat message after validation: text content only. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** A rendered prompt: its tokens and the text sequences that end the model's turn. */
export interface ChatPrompt {
  tokens: Token[];
  stopTexts: string[];
}

const ROLES: Readonly<Record<string, ChatMessage["role"]>> = {
  system: "system",
  developer: "system",
  user: "user",
  assistant: "assistant",
};

// OpenAI content: a string, or an array of parts of which only `text` parts are understood here.
function contentText(content: unknown, at: number): string {
  if (typeof content === "string") return content;
  if (content == null) return "";
  if (Array.isArray(content)) {
    return content.map((part, i) => {
      if (
        typeof part === "object" && part !== null && part.type === "text" && typeof part.text === "string"
      ) {
        return part.text;
      }
      throw new EngineError(400, `messages[${at}].content[${i}]: only text parts are supported`, {
        param: `messages[${at}].content`,
      });
    }).join("");
  }
  throw new EngineError(400, `messages[${at}].content must be a string or an array of text parts`, {
    param: `messages[${at}].content`,
  });
}

/** Validates an OpenAI `messages` array into chat messages; throws a 400 EngineError otherwise. */
export function parseMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new EngineError(400, "messages must be a non-empty array", { param: "messages" });
  }
  return messages.map((m, i) => {
    const role = typeof m === "object" && m !== null ? ROLES[m.role] : undefined;
    if (!role) {
      throw new EngineError(400, `messages[${i}].role must be system, developer, user or assistant`, {
        param: `messages[${i}].role`,
      });
    }
    return { role, content: contentText(m.content, i) };
  });
}

// node-llama-cpp's history: consecutive assistant turns merge, and the open model turn at the end
// is what makes the wrapper render the generation prompt ("<|im_start|>assistant\n" for ChatML).
function toHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m) =>
    m.role === "assistant" ? { type: "model", response: [m.content] } : { type: m.role, text: m.content }
  );
  history.push({ type: "model", response: [] });
  return history;
}

/** The chat wrapper for a model: its own template when it has one, else node-llama-cpp's best guess. */
export function chatWrapperFor(model: LlamaModel): ChatWrapper {
  return resolveChatWrapper(model);
}

/** Renders messages with the wrapper's template and tokenizes the result for the model. */
export function formatChat(
  model: LlamaModel,
  wrapper: ChatWrapper,
  messages: readonly ChatMessage[],
): ChatPrompt {
  const state = wrapper.generateContextState({ chatHistory: toHistory(messages) });
  // Triggers that are special tokens end generation as end-of-generation tokens already; the text
  // ones (e.g. a template's "\nUser:") are matched on the generated text.
  const stopTexts = state.stopGenerationTriggers
    .filter((t) => t.values.every((v) => typeof v === "string"))
    .map((t) => t.toString())
    .filter((t) => t !== "");
  return { tokens: state.contextText.tokenize(model.tokenizer), stopTexts };
}
