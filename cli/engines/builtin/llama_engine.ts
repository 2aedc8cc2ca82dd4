// A GGUF model loaded with llama.cpp (npm node-llama-cpp, CPU only): a pool of context sequences,
// one per concurrent request, and the token loop that honours max_tokens, stop, temperature, seed
// and the caller's abort signal.
import type {
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaEmbeddingContext,
  LlamaModel,
  Token,
} from "node-llama-cpp";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { type ChatMessage, chatWrapperFor, formatChat } from "./chat_format.ts";
import { EngineError } from "./engine_error.ts";
import { TextDelta } from "./text_delta.ts";

/** Options of `LlamaEngine.load`; every field but modelPath has a default. */
export interface LlamaEngineOptions {
  modelPath: string;
  /** The id served on `/v1/models`; default: the file name without `.gguf`. */
  modelId?: string;
  /** Tokens per sequence; default: the model's training context, at most 4096. */
  contextSize?: number;
  /** Concurrent requests (context sequences); default 2. */
  parallel?: number;
  /** CPU threads; default 1 for models under 64 MB (spinning threads cost more than they give), else llama.cpp's choice. */
  threads?: number;
  /** Serve `/v1/embeddings`; default true. */
  embeddings?: boolean;
}

/** Sampling and limits of one generation. */
export interface GenerateOptions {
  maxTokens: number | null;
  temperature: number;
  topP: number | null;
  seed: number | null;
  stop: readonly string[];
  signal: AbortSignal;
  /** Called with each piece of text as soon as it is settled. */
  onText?: (text: string) => void;
}

/** How a generation ended; OpenAI's finish reasons ("length" also when the context is full). */
export interface Generation {
  text: string;
  finishReason: "stop" | "length";
  promptTokens: number;
  completionTokens: number;
  aborted: boolean;
}

const SMALL_MODEL_BYTES = 64 * 1024 * 1024;
let llamaPromise: Promise<Llama> | null = null;

// One llama.cpp binding per process; CPU only, prebuilt binaries only (never a build from source).
function loadLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  return llamaPromise;
}

/** A loaded model serving chat completions and embeddings; `close()` frees it. */
export class LlamaEngine {
  readonly modelId: string;
  readonly contextSize: number;
  readonly model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #free: LlamaContextSequence[];
  readonly #waiting: ((seq: LlamaContextSequence) => void)[] = [];
  readonly #embeddingsEnabled: boolean;
  #embedding: Promise<LlamaEmbeddingContext> | null = null;
  readonly #wrapper;

  private constructor(model: LlamaModel, context: LlamaContext, opts: LlamaEngineOptions) {
    this.model = model;
    this.#context = context;
    this.contextSize = context.contextSize;
    this.modelId = opts.modelId ?? opts.modelPath.split("/").pop()!.replace(/\.gguf$/i, "");
    this.#free = Array.from({ length: context.totalSequences }, () => context.getSequence());
    this.#embeddingsEnabled = opts.embeddings ?? true;
    this.#wrapper = chatWrapperFor(model);
  }

  /** Loads the model file and creates its context. */
  static async load(opts: LlamaEngineOptions): Promise<LlamaEngine> {
    const size = (await Deno.stat(opts.modelPath)).size;
    const llama = await loadLlama();
    const model = await llama.loadModel({ modelPath: opts.modelPath, gpuLayers: 0 });
    try {
      const threads = opts.threads ?? (size < SMALL_MODEL_BYTES ? 1 : undefined);
      const context = await model.createContext({
        contextSize: opts.contextSize ?? Math.min(model.trainContextSize, 4096),
        sequences: opts.parallel ?? 2,
        threads,
      });
      return new LlamaEngine(model, context, opts);
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  /** Generates the assistant's reply to `messages`. */
  async chat(messages: readonly ChatMessage[], opts: GenerateOptions): Promise<Generation> {
    const prompt = formatChat(this.model, this.#wrapper, messages);
    if (prompt.tokens.length >= this.contextSize) {
      throw new EngineError(
        400,
        `the prompt is ${prompt.tokens.length} tokens; this model's context is ${this.contextSize}`,
        { code: "context_length_exceeded", param: "messages" },
      );
    }
    const seq = await this.#acquire(opts.signal);
    try {
      return await this.#generate(seq, prompt.tokens, [...prompt.stopTexts, ...opts.stop], opts);
    } finally {
      this.#release(seq);
    }
  }

  async #generate(seq: LlamaContextSequence, prompt: Token[], stops: string[], opts: GenerateOptions) {
    // Keep what the sequence already holds of this prompt (a shared system prompt, say); at least the
    // last prompt token is evaluated again, since its logits choose the first new token.
    let keep = 0;
    const held = seq.contextTokens;
    while (keep < prompt.length - 1 && keep < held.length && held[keep] === prompt[keep]) keep++;
    if (seq.nextTokenIndex > keep) {
      await seq.eraseContextTokenRanges([{ start: keep, end: seq.nextTokenIndex }]);
    }

    const room = this.contextSize - prompt.length;
    const limit = opts.maxTokens === null ? room : Math.min(opts.maxTokens, room);
    const delta = new TextDelta((t, last) => this.model.detokenize(t, false, last), stops);
    let text = "";
    const emit = (piece: string) => {
      if (!piece) return;
      text += piece;
      opts.onText?.(piece);
    };
    let completionTokens = 0;
    let finishReason: Generation["finishReason"] = "length";
    if (limit > 0 && !opts.signal.aborted) {
      const tokens = seq.evaluate(prompt.slice(keep), {
        temperature: opts.temperature,
        topP: opts.topP ?? undefined,
        seed: opts.seed ?? undefined,
      });
      for await (const token of tokens) {
        completionTokens++;
        const step = delta.push(token);
        emit(step.text);
        if (step.stopped) finishReason = "stop";
        if (step.stopped || completionTokens >= limit || opts.signal.aborted) break;
      }
      // The generator ends by itself only on an end-of-generation token.
      if (completionTokens < limit && !opts.signal.aborted) finishReason = "stop";
    }
    emit(delta.flush());
    return {
      text,
      finishReason,
      promptTokens: prompt.length,
      completionTokens,
      aborted: opts.signal.aborted,
    };
  }

  /** Embeds each input; a 400 when this engine does not serve embeddings. */
  async embed(inputs: readonly string[]): Promise<{ vectors: number[][]; promptTokens: number }> {
    if (!this.#embeddingsEnabled) {
      throw new EngineError(400, `model '${this.modelId}' does not serve embeddings`, {
        code: "embeddings_not_supported",
        param: "model",
      });
    }
    this.#embedding ??= this.model.createEmbeddingContext({ contextSize: Math.min(this.contextSize, 2048) });
    let ctx: LlamaEmbeddingContext;
    try {
      ctx = await this.#embedding;
    } catch (err) {
      throw new EngineError(400, `model '${this.modelId}' cannot produce embeddings`, {
        code: "embeddings_not_supported",
        param: "model",
        cause: err,
      });
    }
    const vectors: number[][] = [];
    let promptTokens = 0;
    for (const input of inputs) {
      promptTokens += this.model.tokenize(input).length;
      vectors.push([...(await ctx.getEmbeddingFor(input)).vector]);
    }
    return { vectors, promptTokens };
  }

  /** Frees the context and the model. */
  async close(): Promise<void> {
    if (this.#embedding) await (await this.#embedding.catch(() => null))?.dispose();
    await this.#context.dispose();
    await this.model.dispose();
  }

  #acquire(signal: AbortSignal): Promise<LlamaContextSequence> {
    const seq = this.#free.pop();
    if (seq) return Promise.resolve(seq);
    return new Promise((resolve, reject) => {
      const take = (s: LlamaContextSequence) => {
        signal.removeEventListener("abort", onAbort);
        resolve(s);
      };
      const onAbort = () => {
        this.#waiting.splice(this.#waiting.indexOf(take), 1);
        reject(new EngineError(499, "the client went away", { code: "client_closed" }));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(take);
    });
  }

  #release(seq: LlamaContextSequence): void {
    const next = this.#waiting.shift();
    if (next) next(seq);
    else this.#free.push(seq);
  }
}
