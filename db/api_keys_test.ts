import assert from "node:assert/strict";
import { hashApiKey } from "./api_keys.ts";

Deno.test("api keys - the stored hash is sha256 of the key's UTF-8, in lower-case hex", () => {
  // FIPS 180-2's vectors: keys stored by any version are found by this one.
  assert.equal(hashApiKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(hashApiKey(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // "é" is hashed as its UTF-8, the two bytes c3 a9 (`printf 'é' | sha256sum`).
  assert.equal(hashApiKey("\u00e9"), "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c");
});
