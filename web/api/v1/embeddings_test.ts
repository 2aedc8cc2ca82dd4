import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { float32Base64 } from "./embeddings.ts";

Deno.test("embeddings - base64 is float32 little-endian, as OpenAI's SDKs decode it", () => {
  const vector = [0.1, -2.5e-7, 3, 1e21, 0, -0];
  const encoded = float32Base64(vector);
  // The SDK's decoding: the bytes as a Float32Array (little-endian on every platform it runs on).
  const bytes = Buffer.from(encoded, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoded = Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
  assert.deepEqual(decoded, vector.map(Math.fround));
  assert.equal(float32Base64([1]), "AACAPw==");
  assert.equal(float32Base64([]), "");
  // A vector longer than one chunk of the binary string (0x8000 bytes).
  const long = Array.from({ length: 20_000 }, (_, i) => i / 7);
  const longBytes = Buffer.from(float32Base64(long), "base64");
  assert.equal(longBytes.length, 80_000);
  assert.equal(
    new DataView(longBytes.buffer, longBytes.byteOffset).getFloat32(4 * 19_999, true),
    Math.fround(19_999 / 7),
  );
});
