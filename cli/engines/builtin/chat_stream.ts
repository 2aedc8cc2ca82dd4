// OpenAI's chat completion objects, as the built-in engine writes them: the whole answer
// (https://platform.openai.com/docs/api-reference/chat/object) and the streamed chunks
// (https://platform.openai.com/docs/api-reference/chat/streaming) framed as server-sent events.

/** What every object of one completion shares. */
export interface CompletionHead {
  id: string;
  created: number;
  model: string;
}

/** OpenAI's `usage`. */
export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** A new completion's id and creation time (seconds). */
export function completionHead(model: string): CompletionHead {
  return {
    id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
    created: Math.floor(Date.now() / 1000),
    model,
  };
}

/** OpenAI's usage object from token counts. */
export function usageOf(promptTokens: number, completionTokens: number): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** The non-streamed `chat.completion` object. */
export function completionObject(
  head: CompletionHead,
  content: string,
  finishReason: string,
  usage: CompletionUsage,
): Record<string, unknown> {
  return {
    ...head,
    object: "chat.completion",
    choices: [{
      index: 0,
      message: { role: "assistant", content, refusal: null },
      logprobs: null,
      finish_reason: finishReason,
    }],
    usage,
  };
}

/** Writes `chat.completion.chunk` events: role first, content deltas, the finish, usage if asked, `[DONE]`. */
export class ChunkWriter {
  readonly #head: CompletionHead;
  readonly #includeUsage: boolean;
  readonly #encoder = new TextEncoder();

  constructor(head: CompletionHead, opts: { includeUsage: boolean }) {
    this.#head = head;
    this.#includeUsage = opts.includeUsage;
  }

  #event(data: unknown): Uint8Array {
    return this.#encoder.encode(`data: ${JSON.stringify(data)}\n\n`);
  }

  // With include_usage, every chunk carries `usage: null` and only the last one the counts.
  #chunk(delta: Record<string, unknown>, finishReason: string | null): Uint8Array {
    const choice = { index: 0, delta, logprobs: null, finish_reason: finishReason };
    const usage = this.#includeUsage ? { usage: null } : {};
    return this.#event({ ...this.#head, object: "chat.completion.chunk", choices: [choice], ...usage });
  }

  /** The first chunk: the assistant's role and empty content. */
  start(): Uint8Array {
    return this.#chunk({ role: "assistant", content: "" }, null);
  }

  /** A content delta. */
  content(text: string): Uint8Array {
    return this.#chunk({ content: text }, null);
  }

  /** The finish chunk, the usage chunk when asked for, and `[DONE]`. */
  finish(finishReason: string, usage: CompletionUsage): Uint8Array {
    const parts = [this.#chunk({}, finishReason)];
    if (this.#includeUsage) {
      parts.push(this.#event({ ...this.#head, object: "chat.completion.chunk", choices: [], usage }));
    }
    parts.push(this.#encoder.encode("data: [DONE]\n\n"));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.byteLength), 0);
    return out;
  }

  /** An error event in OpenAI's shape, for a failure after the stream has started. */
  error(message: string): Uint8Array {
    return this.#event({ error: { message, type: "server_error", param: null, code: null } });
  }
}
