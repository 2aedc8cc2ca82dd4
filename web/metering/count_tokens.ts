// Our own token count (o200k_base, the vocabulary and split pattern of npm gpt-tokenizer, counted by
// web/metering/bpe_counter.ts off the heap): used to hold a request's worst case before it runs,
// when an engine reports no usage, and to cross-check the usage it does report.
import { O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/esm/encodingParams/constants";
import { BpeCounter, type BpeTables } from "./bpe_counter.ts";

/** Builds o200k's tables in a worker (web/metering/o200k_worker.ts) and takes its buffers. */
async function loadO200k(): Promise<BpeTables> {
  const worker = new Worker(new URL("./o200k_worker.ts", import.meta.url).href, { type: "module" });
  try {
    return await new Promise<BpeTables>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<BpeTables>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`could not load the o200k vocabulary: ${e.message}`));
      };
    });
  } finally {
    worker.terminate();
  }
}

const counter = new BpeCounter(await loadO200k(), O200K_TOKEN_SPLIT_REGEX);

/** Tokens OpenAI's chat format adds per message and to prime the reply (cookbook recipe). */
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((p) =>
      typeof p === "object" && p !== null && typeof (p as { text?: unknown }).text === "string"
        ? (p as { text: string }).text
        : ""
    ).join("");
  }
  return "";
}

/** Counts the prompt tokens of chat messages. */
export function countChatPromptTokens(messages: ReadonlyArray<Record<string, unknown>>): number {
  let n = REPLY_PRIMING;
  for (const m of messages) {
    n += PER_MESSAGE + countText(contentText(m.content)) + countText(String(m.role ?? ""));
    if (typeof m.name === "string") n += 1 + countText(m.name);
  }
  return n;
}

/** Counts the tokens of a text (one that spells a special token, "<|endoftext|>", is plain text). */
export function countText(text: string): number {
  return text === "" ? 0 : counter.count(text);
}

/** Counts embedding input tokens (token arrays count as their length). */
export function countEmbeddingTokens(inputs: ReadonlyArray<string | number[]>): number {
  return inputs.reduce((n, v) => n + (typeof v === "string" ? countText(v) : v.length), 0);
}

/** True when the engine's count is far from ours (worth a warning: a node may misreport). */
export function usageDiverges(engine: number, ours: number): boolean {
  return Math.abs(engine - ours) > 16 + Math.max(engine, ours) * 0.25;
}
