import assert from "node:assert/strict";
import { canonicalJson, type CanonicalValue, isCanonicalJson } from "./canonical_json.ts";

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

Deno.test("canonical json - a value already in key order is written as sorting would write it", () => {
  const values: unknown[] = [
    { a: 1, b: { c: [1, "x", null, { d: true, e: -2.5 }] } },
    { a: 1, b: 2, c: undefined },
    { "10": 1, "9": 2, a: 3 },
    { b: 1, a: { y: 1, x: 2 } },
    [{ z: 1, a: 2 }, 3],
    { "é": 1, "z": 2, "A": 3 },
  ];
  const sorting = (v: unknown): string => {
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(sorting).join(",")}]`;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sorting(o[k])}`).join(",")}}`;
  };
  for (const v of values) assert.equal(canonicalJson(v as CanonicalValue), sorting(v), JSON.stringify(v));
  assert.equal(canonicalJson({ "10": 1, "9": 2 }), '{"10":1,"9":2}');
  assert.throws(() => canonicalJson({ a: Infinity }));
  assert.throws(() => canonicalJson([NaN]));
});
