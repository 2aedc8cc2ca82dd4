import assert from "node:assert/strict";
import { canonicalJson, isCanonicalJson } from "./canonical_json.ts";

Deno.test("canonical json - sorts keys at every depth and drops undefined", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { z: [1, { y: 2, x: "é" }], c: null }, d: undefined as unknown as null }),
    '{"a":{"c":null,"z":[1,{"x":"é","y":2}]},"b":1}',
  );
});

Deno.test("canonical json - recognises its own output and refuses other spellings", () => {
  assert.equal(isCanonicalJson('{"a":1,"b":[2]}'), true);
  assert.equal(isCanonicalJson('{"b":1,"a":2}'), false);
  assert.equal(isCanonicalJson('{"a": 1}'), false);
  assert.equal(isCanonicalJson("not json"), false);
  assert.throws(() => canonicalJson(NaN));
});
