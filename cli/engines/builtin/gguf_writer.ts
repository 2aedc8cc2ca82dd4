// Encodes a GGUF v3 file: header, metadata key/values, tensor infos, then the aligned tensor data.
// Spec: ggml-org/ggml docs/gguf.md (little-endian; strings are u64 length + UTF-8 bytes; tensor
// dimensions are listed innermost first; each tensor's offset is relative to the data section and
// a multiple of `general.alignment`, default 32).

/** A metadata value with its GGUF type made explicit where JavaScript cannot tell (u32 vs f32). */
export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: readonly string[] }
  | { type: "f32[]"; value: ArrayLike<number> }
  | { type: "i32[]"; value: ArrayLike<number> };

/** One F32 tensor; `dims` innermost first (ggml's ne0, ne1, …), as the file stores them. */
export interface GgufTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

const ALIGNMENT = 32;
// gguf_metadata_value_type and ggml_type, as numbered by the spec.
const TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;
const GGML_TYPE_F32 = 0;

class ByteSink {
  #chunks: Uint8Array[] = [];
  #encoder = new TextEncoder();
  length = 0;

  bytes(b: Uint8Array): void {
    this.#chunks.push(b);
    this.length += b.byteLength;
  }
  #scalar(size: number, write: (view: DataView) => void): void {
    const b = new Uint8Array(size);
    write(new DataView(b.buffer));
    this.bytes(b);
  }
  u32(n: number): void {
    this.#scalar(4, (v) => v.setUint32(0, n, true));
  }
  i32(n: number): void {
    this.#scalar(4, (v) => v.setInt32(0, n, true));
  }
  f32(n: number): void {
    this.#scalar(4, (v) => v.setFloat32(0, n, true));
  }
  u64(n: number): void {
    this.#scalar(8, (v) => v.setBigUint64(0, BigInt(n), true));
  }
  string(s: string): void {
    const b = this.#encoder.encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  pad(): void {
    const rest = (ALIGNMENT - (this.length % ALIGNMENT)) % ALIGNMENT;
    if (rest) this.bytes(new Uint8Array(rest));
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

function writeValue(sink: ByteSink, v: GgufValue): void {
  const array = (itemType: number, items: ArrayLike<unknown>, put: (x: never) => void) => {
    sink.u32(TYPE.array);
    sink.u32(itemType);
    sink.u64(items.length);
    for (let i = 0; i < items.length; i++) put(items[i] as never);
  };
  switch (v.type) {
    case "u32":
      sink.u32(TYPE.u32), sink.u32(v.value);
      return;
    case "i32":
      sink.u32(TYPE.i32), sink.i32(v.value);
      return;
    case "f32":
      sink.u32(TYPE.f32), sink.f32(v.value);
      return;
    case "bool":
      sink.u32(TYPE.bool), sink.bytes(new Uint8Array([v.value ? 1 : 0]));
      return;
    case "string":
      sink.u32(TYPE.string), sink.string(v.value);
      return;
    case "string[]":
      return array(TYPE.string, v.value, (s: string) => sink.string(s));
    case "f32[]":
      return array(TYPE.f32, v.value, (n: number) => sink.f32(n));
    case "i32[]":
      return array(TYPE.i32, v.value, (n: number) => sink.i32(n));
  }
}

/** Encodes metadata and F32 tensors as the bytes of a GGUF v3 file. */
export function encodeGguf(
  metadata: Readonly<Record<string, GgufValue>>,
  tensors: readonly GgufTensor[],
): Uint8Array {
  const sink = new ByteSink();
  sink.bytes(new TextEncoder().encode("GGUF"));
  sink.u32(3);
  sink.u64(tensors.length);
  sink.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    sink.string(key);
    writeValue(sink, value);
  }
  let offset = 0;
  for (const t of tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`tensor ${t.name}: ${t.data.length} values for dims ${t.dims}`);
    }
    sink.string(t.name);
    sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(GGML_TYPE_F32);
    sink.u64(offset);
    offset += Math.ceil(t.data.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  sink.pad();
  for (const t of tensors) {
    sink.bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice());
    sink.pad();
  }
  return sink.concat();
}
