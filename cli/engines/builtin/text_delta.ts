// Generated tokens → the text a client may see so far. Two things are held back until they are
// settled: an incomplete UTF-8 character (a byte token alone detokenizes to U+FFFD), and text that
// could be the start of a stop sequence (OpenAI's `stop`: the sequence itself is never returned).
import type { Token } from "node-llama-cpp";

/** Detokenizes `tokens`, which follow `lastTokens` (so a tokenizer can join words correctly). */
export type Detokenize = (tokens: readonly Token[], lastTokens: readonly Token[]) => string;

/** What one pushed token released: text to send, and whether a stop sequence was reached. */
export interface TextStep {
  text: string;
  stopped: boolean;
}

// A UTF-8 character is at most 4 bytes, so 4 tokens settle any one the byte tokens spell.
const MAX_PENDING_TOKENS = 4;
const LAST_TOKENS = 8;

/** Turns tokens into text deltas; create one per generation. */
export class TextDelta {
  readonly #detokenize: Detokenize;
  readonly #stops: readonly string[];
  #emitted: Token[] = [];
  #pending: Token[] = [];
  #held = "";
  #stopped = false;

  constructor(detokenize: Detokenize, stops: readonly string[]) {
    this.#detokenize = detokenize;
    this.#stops = stops.filter((s) => s !== "");
  }

  /** Adds one generated token; once `stopped`, later tokens release nothing. */
  push(token: Token): TextStep {
    if (this.#stopped) return { text: "", stopped: true };
    this.#pending.push(token);
    const text = this.#detokenize(this.#pending, this.#emitted.slice(-LAST_TOKENS));
    if (text.endsWith("\uFFFD") && this.#pending.length < MAX_PENDING_TOKENS) {
      return { text: "", stopped: false };
    }
    this.#emitted.push(...this.#pending);
    this.#pending = [];
    return this.#release(this.#held + text);
  }

  /** The text still held back, at the end of a generation that did not stop on a sequence. */
  flush(): string {
    if (this.#stopped) return "";
    const rest = this.#pending.length
      ? this.#detokenize(this.#pending, this.#emitted.slice(-LAST_TOKENS))
      : "";
    const text = this.#held + rest;
    this.#held = "";
    this.#pending = [];
    return text;
  }

  #release(text: string): TextStep {
    let cut = -1;
    for (const stop of this.#stops) {
      const at = text.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.#stopped = true;
      this.#held = "";
      return { text: text.slice(0, cut), stopped: true };
    }
    const hold = this.#longestStopPrefixAtEnd(text);
    this.#held = text.slice(text.length - hold);
    return { text: text.slice(0, text.length - hold), stopped: false };
  }

  // The length of the longest suffix of `text` that begins some stop sequence.
  #longestStopPrefixAtEnd(text: string): number {
    let best = 0;
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
