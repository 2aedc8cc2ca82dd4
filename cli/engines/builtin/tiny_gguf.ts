// A tiny but real llama-architecture GGUF model, generated, so tests and the bench run true
// llama.cpp inference without a download. Metadata keys and tensor names are the ones llama.cpp
// loads for `general.architecture = "llama"` (gguf-py/gguf/constants.py, src/llama-model.cpp).
// The vocabulary is SentencePiece-style ("llama"): control tokens, the word-boundary piece "▁" (SPM
// writes spaces as U+2581 and turns that piece back into a space), and the 256 byte tokens
// (`<0x00>`…`<0xFF>`) that every other character falls back to — so any text round-trips.
//
// The weights are deterministic noise with one structure on purpose: embedding dimension 0 holds
// a large constant, which the small layers cannot flip, and the output rows of control tokens and
// of bytes outside printable ASCII point against it. So the model babbles printable ASCII, one
// character per token, and practically never ends on its own: tests can count on `max_tokens`.
import { encodeGguf, type GgufTensor } from "./gguf_writer.ts";

/** Shape of the generated model; every field has a small default. */
export interface TinyModelOptions {
  embeddingLength?: number;
  headCount?: number;
  headCountKv?: number;
  feedForwardLength?: number;
  blockCount?: number;
  contextLength?: number;
  seed?: number;
  name?: string;
}

/** The control tokens, in id order; then "▁", then the 256 byte tokens. */
export const TINY_CONTROL_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"] as const;

/** A ChatML template (Jinja), which llama.cpp and node-llama-cpp both recognise. */
export const TINY_CHAT_TEMPLATE = "{% for message in messages %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// llama_token_type: NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6.
const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, BYTE = 6;
const FIRST_BYTE_TOKEN = TINY_CONTROL_TOKENS.length + 1;

// mulberry32: a small seeded generator, so the same options give the same bytes.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tokens(): { texts: string[]; types: number[] } {
  const texts: string[] = [...TINY_CONTROL_TOKENS, "\u2581"];
  const types = [UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL, NORMAL];
  for (let b = 0; b < 256; b++) {
    texts.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(BYTE);
  }
  return { texts, types };
}

/** The bytes of a tiny llama GGUF model (about 0.5 MB with the defaults). */
export function tinyGguf(opts: TinyModelOptions = {}): Uint8Array {
  const nEmbd = opts.embeddingLength ?? 64;
  const nHead = opts.headCount ?? 4;
  const nHeadKv = opts.headCountKv ?? 2;
  const nFf = opts.feedForwardLength ?? 128;
  const nLayer = opts.blockCount ?? 2;
  const nCtx = opts.contextLength ?? 2048;
  const rand = random(opts.seed ?? 42);
  const { texts, types } = tokens();
  const nVocab = texts.length;
  const headDim = nEmbd / nHead;
  if (!Number.isInteger(headDim) || nHead % nHeadKv !== 0) throw new Error("tinyGguf: bad head counts");

  const noise = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const tensors: GgufTensor[] = [];
  const add = (name: string, dims: number[], data: Float32Array) => tensors.push({ name, dims, data });

  const embd = noise(nEmbd * nVocab, 0.5);
  for (let t = 0; t < nVocab; t++) embd[t * nEmbd] = 8;
  add("token_embd.weight", [nEmbd, nVocab], embd);
  for (let i = 0; i < nLayer; i++) {
    const w = (n: number, fanIn: number) => noise(n, 0.5 / Math.sqrt(fanIn));
    add(`blk.${i}.attn_norm.weight`, [nEmbd], ones(nEmbd));
    add(`blk.${i}.attn_q.weight`, [nEmbd, nEmbd], w(nEmbd * nEmbd, nEmbd));
    add(`blk.${i}.attn_k.weight`, [nEmbd, headDim * nHeadKv], w(nEmbd * headDim * nHeadKv, nEmbd));
    add(`blk.${i}.attn_v.weight`, [nEmbd, headDim * nHeadKv], w(nEmbd * headDim * nHeadKv, nEmbd));
    add(`blk.${i}.attn_output.weight`, [nEmbd, nEmbd], w(nEmbd * nEmbd, nEmbd));
    add(`blk.${i}.ffn_norm.weight`, [nEmbd], ones(nEmbd));
    add(`blk.${i}.ffn_gate.weight`, [nEmbd, nFf], w(nEmbd * nFf, nEmbd));
    add(`blk.${i}.ffn_up.weight`, [nEmbd, nFf], w(nEmbd * nFf, nEmbd));
    add(`blk.${i}.ffn_down.weight`, [nFf, nEmbd], w(nFf * nEmbd, nFf));
  }
  add("output_norm.weight", [nEmbd], ones(nEmbd));
  const output = noise(nEmbd * nVocab, 3);
  for (let t = 0; t < nVocab; t++) {
    const byte = t - FIRST_BYTE_TOKEN;
    const printable = t === FIRST_BYTE_TOKEN - 1 || (byte > 0x20 && byte <= 0x7e);
    output[t * nEmbd] = printable ? 0 : -30;
  }
  add("output.weight", [nEmbd, nVocab], output);

  return encodeGguf({
    "general.architecture": { type: "string", value: "llama" },
    "general.name": { type: "string", value: opts.name ?? "infernet-tiny" },
    "general.alignment": { type: "u32", value: 32 },
    "llama.context_length": { type: "u32", value: nCtx },
    "llama.embedding_length": { type: "u32", value: nEmbd },
    "llama.block_count": { type: "u32", value: nLayer },
    "llama.feed_forward_length": { type: "u32", value: nFf },
    "llama.attention.head_count": { type: "u32", value: nHead },
    "llama.attention.head_count_kv": { type: "u32", value: nHeadKv },
    "llama.attention.layer_norm_rms_epsilon": { type: "f32", value: 1e-5 },
    "llama.rope.dimension_count": { type: "u32", value: headDim },
    "llama.rope.freq_base": { type: "f32", value: 10000 },
    "llama.vocab_size": { type: "u32", value: nVocab },
    "tokenizer.ggml.model": { type: "string", value: "llama" },
    "tokenizer.ggml.tokens": { type: "string[]", value: texts },
    "tokenizer.ggml.scores": { type: "f32[]", value: texts.map(() => 0) },
    "tokenizer.ggml.token_type": { type: "i32[]", value: types },
    "tokenizer.ggml.unknown_token_id": { type: "u32", value: 0 },
    "tokenizer.ggml.bos_token_id": { type: "u32", value: 1 },
    "tokenizer.ggml.eos_token_id": { type: "u32", value: 2 },
    "tokenizer.ggml.add_bos_token": { type: "bool", value: true },
    "tokenizer.ggml.add_space_prefix": { type: "bool", value: false },
    "tokenizer.chat_template": { type: "string", value: TINY_CHAT_TEMPLATE },
  }, tensors);
}

/** Writes the tiny model to `path` (unless a file is already there) and returns the path. */
export async function writeTinyGguf(path: string, opts: TinyModelOptions = {}): Promise<string> {
  try {
    await Deno.stat(path);
    return path;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(tmp, tinyGguf(opts));
  await Deno.rename(tmp, path);
  return path;
}
