// Direct-mode framing (docs/protocol.md §14): a request and its answer travel as NIP-44 v2
// payloads, one per frame, each individually authenticated. NIP-44 caps a plaintext at 65,535
// bytes, so a long message is cut into frames; every frame carries the job id (the stream), the
// direction and its sequence number, so a frame from another job, a reflected frame, a dropped,
// reordered or replayed frame, and anything after the end are errors. The control plane never
// holds a key that opens them: web/ does not import this module.
import { isRecord } from "../json/is_record.ts";
import { type Nip44Cipher, NOSTR_TOOLS_NIP44 } from "./nip44_cipher.ts";

/** Which way a frame goes: consumer to node, or node to consumer. */
export type FrameDirection = "c2n" | "n2c";

/** NIP-44 v2's largest plaintext. */
export const MAX_FRAME_PLAINTEXT = 65_535;

/** The longest NIP-44 v2 payload (base64 of a 65,535-byte plaintext, padded, with nonce and MAC). */
export const MAX_FRAME_PAYLOAD = 87_472;

/** Why a frame was refused. */
export type FramingErrorCode =
  | "frame_undecryptable"
  | "frame_invalid"
  | "frame_foreign"
  | "frame_reflected"
  | "frame_replayed"
  | "frame_out_of_order"
  | "frame_after_end";

/** A frame that cannot be accepted; the stream is over. */
export class FramingError extends Error {
  override name = "FramingError";
  readonly code: FramingErrorCode;
  constructor(code: FramingErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** What a frame carries: a piece of a message, the end, or an error from the other side. */
interface FramePlain {
  v: 1;
  /** The stream: the job id. */
  s: string;
  d: FrameDirection;
  /** Sequence number, from 0. */
  n: number;
  k: "data" | "end" | "error";
  /** A piece of the message (data), or the reason (error). */
  b: string;
  /** More pieces of this message follow (data only). */
  m?: 1;
  /** The stream ends with this message's last piece: its `end` folded in (data only, never with m). */
  e?: 1;
  /** Error code (error only). */
  c?: string;
}

const encoder = new TextEncoder();

/** Room for the frame's own fields around the piece, in bytes (the JSON keys, ids, numbers). */
const ENVELOPE_BYTES = 512;

/** The UTF-8 bytes JSON.stringify spends on the UTF-16 unit at `i` (a surrogate pair: on both). */
function escapedBytes(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x0c || c === 0x0a || c === 0x0d || c === 0x09) {
    return 2;
  }
  if (c < 0x20) return 6;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = text.charCodeAt(i + 1);
    return next >= 0xdc00 && next <= 0xdfff ? 4 : 6;
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const prev = text.charCodeAt(i - 1);
    return prev >= 0xd800 && prev <= 0xdbff ? 0 : 6;
  }
  return 3;
}

/** Splits `text` into pieces whose JSON-escaped UTF-8 stays within `budget` bytes, pairs kept whole. */
function pieces(text: string, budget: number): string[] {
  if (text.length === 0) return [""];
  const out: string[] = [];
  let start = 0;
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const bytes = escapedBytes(text, i);
    // A low surrogate costs 0: it travels with its high one, never split from it.
    if (size + bytes > budget && i > start && bytes > 0) {
      out.push(text.slice(start, i));
      start = i;
      size = 0;
    }
    size += bytes;
  }
  out.push(text.slice(start));
  return out;
}

/** How a sealer encrypts: its NIP-44 implementation, and each frame's 32-byte nonce. */
export interface FrameSealerOptions {
  /** Fixed nonces for test vectors only (a reused nonce breaks NIP-44); default: random. */
  nonce?: (seq: number) => Uint8Array;
  /** The NIP-44 v2 implementation (default nostr-tools'; `fastestNip44()` for less CPU). */
  cipher?: Nip44Cipher;
}

/** Seals one side's messages into frames (NIP-44 payloads, base64 strings). */
export class FrameSealer {
  #key: Uint8Array;
  #stream: string;
  #dir: FrameDirection;
  #nonce?: (seq: number) => Uint8Array;
  #cipher: Nip44Cipher;
  #seq = 0;
  #ended = false;

  constructor(
    conversationKey: Uint8Array,
    stream: string,
    direction: FrameDirection,
    opts: FrameSealerOptions = {},
  ) {
    this.#key = conversationKey;
    this.#stream = stream;
    this.#dir = direction;
    this.#nonce = opts.nonce;
    this.#cipher = opts.cipher ?? NOSTR_TOOLS_NIP44;
  }

  #seal(plain: Omit<FramePlain, "v" | "s" | "d" | "n">): string {
    if (this.#ended) throw new Error("the stream has ended");
    const n = this.#seq++;
    const text = JSON.stringify({ v: 1, s: this.#stream, d: this.#dir, n, ...plain });
    return this.#cipher.encrypt(text, this.#key, this.#nonce?.(n));
  }

  /**
   * Seals one message (any length) into as many frames as it needs. With `end`, the message is the
   * stream's last: its last frame carries the end (`e: 1`), and no `end()` follows. Only for a peer
   * that opens folded ends (docs/protocol.md §14).
   */
  message(text: string, opts: { end?: boolean } = {}): string[] {
    // The job id travels JSON-escaped in every frame (a control character costs 6 bytes).
    const budget = MAX_FRAME_PLAINTEXT - ENVELOPE_BYTES - encoder.encode(JSON.stringify(this.#stream)).length;
    const parts = pieces(text, budget);
    const last = parts.length - 1;
    const frames = parts.map((b, i) =>
      this.#seal(i < last ? { k: "data", b, m: 1 } : opts.end ? { k: "data", b, e: 1 } : { k: "data", b })
    );
    if (opts.end) this.#ended = true;
    return frames;
  }

  /** The last frame: the stream ended normally. */
  end(): string {
    const frame = this.#seal({ k: "end", b: "" });
    this.#ended = true;
    return frame;
  }

  /** The last frame: the stream ended in an error (code and reason travel encrypted too). */
  error(code: string, message: string): string {
    const frame = this.#seal({ k: "error", b: message.slice(0, 1000), c: code.slice(0, 64) });
    this.#ended = true;
    return frame;
  }
}

/**
 * What opening a frame gave: a complete message (`end` when the stream ended with it, folded in),
 * the end, an error, or nothing yet (a piece).
 */
export type Opened =
  | { type: "message"; text: string; end?: true }
  | { type: "end" }
  | { type: "error"; code: string; message: string }
  | { type: "partial" };

/** Opens the other side's frames in order, refusing anything out of place. */
export class FrameOpener {
  #key: Uint8Array;
  #stream: string;
  #dir: FrameDirection;
  #cipher: Nip44Cipher;
  #seq = 0;
  #ended = false;
  #partial: string[] = [];

  /** `direction` is the direction of the frames this side receives; `cipher` as for a sealer. */
  constructor(
    conversationKey: Uint8Array,
    stream: string,
    direction: FrameDirection,
    opts: { cipher?: Nip44Cipher } = {},
  ) {
    this.#key = conversationKey;
    this.#stream = stream;
    this.#dir = direction;
    this.#cipher = opts.cipher ?? NOSTR_TOOLS_NIP44;
  }

  /** Whether the other side's last frame has arrived. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Opens the next frame; throws a {@link FramingError} for anything that does not belong here. */
  open(payload: string): Opened {
    if (this.#ended) throw new FramingError("frame_after_end", "a frame arrived after the stream's end");
    // NIP-44 v2 refuses longer payloads; nostr-tools would decrypt them (its >64 KB extension).
    if (typeof payload !== "string" || payload.length > MAX_FRAME_PAYLOAD) {
      throw new FramingError("frame_undecryptable", "the frame is longer than a NIP-44 v2 payload");
    }
    let text: string;
    try {
      text = this.#cipher.decrypt(payload, this.#key);
    } catch (err) {
      throw new FramingError("frame_undecryptable", `the frame does not decrypt: ${(err as Error).message}`);
    }
    let f: unknown;
    try {
      f = JSON.parse(text);
    } catch {
      throw new FramingError("frame_invalid", "the frame is not JSON");
    }
    if (
      !isRecord(f) || f.v !== 1 || typeof f.s !== "string" || typeof f.n !== "number" ||
      typeof f.b !== "string" || (f.k !== "data" && f.k !== "end" && f.k !== "error")
    ) {
      throw new FramingError("frame_invalid", "the frame is not a direct-mode frame");
    }
    if (f.s !== this.#stream) throw new FramingError("frame_foreign", "the frame belongs to another job");
    if (f.d !== this.#dir) throw new FramingError("frame_reflected", "the frame goes the other way");
    if (f.n < this.#seq) throw new FramingError("frame_replayed", `frame ${f.n} was already received`);
    if (f.n > this.#seq) {
      throw new FramingError("frame_out_of_order", `frame ${this.#seq} is missing before ${f.n}`);
    }
    this.#seq++;
    if (f.k === "end") {
      if (this.#partial.length) throw new FramingError("frame_invalid", "the stream ended inside a message");
      this.#ended = true;
      return { type: "end" };
    }
    if (f.k === "error") {
      this.#ended = true;
      return { type: "error", code: typeof f.c === "string" ? f.c : "error", message: f.b };
    }
    if (f.e === 1 && f.m === 1) throw new FramingError("frame_invalid", "the stream ended inside a message");
    this.#partial.push(f.b);
    if (f.m === 1) return { type: "partial" };
    const message = this.#partial.length === 1 ? this.#partial[0] : this.#partial.join("");
    this.#partial = [];
    if (f.e === 1) {
      this.#ended = true;
      return { type: "message", text: message, end: true };
    }
    return { type: "message", text: message };
  }
}
