// Our own token count (o200k_base, the vocabulary and split pattern of npm gpt-tokenizer, counted by
// web/metering/bpe_counter.ts off the heap): used to hold a request's worst case before it runs,
// when an engine reports no usage, and to cross-check the usage it does report.
import { O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/esm/encodingParams/constants";
import { setImmediate } from "node:timers";
import { BpeCounter, type BpeTables } from "./bpe_counter.ts";
import { chatPromptTexts, type TokenTexts } from "../../shared/mod.ts";

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

/** What a prompt counts: its texts, and the tokens the format adds around them. */
type PromptParts = TokenTexts;

function embeddingParts(inputs: ReadonlyArray<string | number[]>): PromptParts {
  const texts: string[] = [];
  let fixed = 0;
  for (const v of inputs) {
    if (typeof v === "string") texts.push(v);
    else fixed += v.length; // A token array counts as its length.
  }
  return { texts, fixed };
}

function countParts({ texts, fixed }: PromptParts): number {
  return texts.reduce((n, t) => n + countText(t), fixed);
}

/**
 * Counts the texts a slice of ~{@link SLICE_CHARS} characters at a time, with a turn of the event
 * loop between slices (many short texts share slices; a long one is cut between its pieces). Stops
 * (rejects with the signal's reason) when `signal` aborts: the consumer has gone. Stops counting
 * once the count is past `limit`, and returns what it has counted by then (more than `limit`).
 */
async function countPartsYielding(
  { texts, fixed }: PromptParts,
  signal?: AbortSignal,
  limit = Infinity,
): Promise<number> {
  let n = fixed;
  let budget = SLICE_CHARS;
  for (const text of texts) {
    for (let from = 0; from !== -1 && text !== "";) {
      if (n > limit) return n;
      if (budget <= 0) {
        await new Promise((resolve) => setImmediate(resolve));
        signal?.throwIfAborted();
        budget = SLICE_CHARS;
      }
      const slice = counter.countFrom(text, from, budget);
      n += slice.count;
      budget -= (slice.next === -1 ? text.length : slice.next) - from;
      from = slice.next;
    }
  }
  return n;
}

/** Counts the prompt tokens of chat messages (and of the request's `tools`, when given). */
export function countChatPromptTokens(
  messages: ReadonlyArray<Record<string, unknown>>,
  tools?: unknown,
): number {
  return countParts(chatPromptTexts(messages, tools));
}

/** Counts what a chat answer generated besides its content (reasoning, refusals, tool calls). */
export function countTokenTexts(parts: TokenTexts): number {
  return countParts(parts);
}

/**
 * {@link countChatPromptTokens}, a slice at a time (see {@link SLICE_CHARS}); once past `limit`
 * it stops and returns what it has counted (a prompt no context window takes need not be counted
 * to its end).
 */
export function countChatPromptTokensYielding(
  messages: ReadonlyArray<Record<string, unknown>>,
  signal?: AbortSignal,
  limit = Infinity,
  tools?: unknown,
): Promise<number> {
  return countPartsYielding(chatPromptTexts(messages, tools), signal, limit);
}

/** Counts the tokens of a text (one that spells a special token, "<|endoftext|>", is plain text). */
export function countText(text: string): number {
  return text === "" ? 0 : counter.count(text);
}

/**
 * Characters counted between two turns of the event loop by the `…Yielding` counts (a few ms): a
 * prompt of megabytes counted in one go would stop the control plane, and every other request and
 * node frame, for seconds.
 */
const SLICE_CHARS = 4096;

/** Counts embedding input tokens (token arrays count as their length). */
export function countEmbeddingTokens(inputs: ReadonlyArray<string | number[]>): number {
  return countParts(embeddingParts(inputs));
}

/** {@link countEmbeddingTokens}, a slice at a time (see {@link SLICE_CHARS}). */
export function countEmbeddingTokensYielding(
  inputs: ReadonlyArray<string | number[]>,
  signal?: AbortSignal,
): Promise<number> {
  return countPartsYielding(embeddingParts(inputs), signal);
}

/** True when the engine's count is far from ours; the rule is shared: receipts and reputation use it. */
export { usageDiverges } from "../../shared/mod.ts";

/**
 * The most tokens we may count in a text that an engine counts as `engineTokens` or fewer: any
 * count above it would diverge from the engine's ({@link usageDiverges}).
 */
export function mostWeCount(engineTokens: number): number {
  return Math.floor((engineTokens + 16) * 4 / 3);
}
