import assert from "node:assert/strict";
import { compileSchema, type JsonSchema, publishedSchema } from "./validator.ts";

const ITEM: JsonSchema = {
  type: "object",
  required: ["role"],
  properties: { role: { type: "string" } },
  errorMessage: "{param} must be an object with a role",
};
const BODY: JsonSchema = {
  type: "object",
  required: ["list"],
  properties: {
    list: { type: "array", minItems: 1, items: ITEM, errorMessage: "list must be a non-empty array" },
    n: { type: ["integer", "null"], minimum: 1 },
  },
  errorMessage: "The request body must be a JSON object.",
};

Deno.test("json schema - the nearest errorMessage names the path of the schema that carries it", () => {
  const check = compileSchema(BODY);
  assert.deepEqual(check([]), { param: null, message: "The request body must be a JSON object." });
  assert.deepEqual(check({}), { param: "list", message: "list must be a non-empty array" });
  assert.deepEqual(check({ list: [] }), { param: "list", message: "list must be a non-empty array" });
  assert.deepEqual(check({ list: [{ role: "a" }, { role: 3 }] }), {
    param: "list[1]",
    message: "list[1] must be an object with a role",
  });
  assert.equal(check({ list: [{ role: "a", extra: true }], other: 1, n: null }), null);
});

Deno.test("json schema - a failure under no errorMessage takes the outer one, or a plain sentence", () => {
  assert.deepEqual(compileSchema(BODY)({ list: [{ role: "a" }], n: 0 }), {
    param: null,
    message: "The request body must be a JSON object.",
  });
  const { errorMessage: _, ...bare } = BODY;
  assert.deepEqual(compileSchema(bare)({ list: [{ role: "a" }], n: 0 }), {
    param: "n",
    message: "n must be at least 1",
  });
  assert.deepEqual(compileSchema(bare)({ list: [{ role: "a" }], n: 1.5 }), {
    param: "n",
    message: "n must be an integer",
  });
  const safe = compileSchema({ type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
  assert.equal(safe(2 ** 53 - 1), null);
  assert.deepEqual(safe(2 ** 53), {
    param: null,
    message: `the request body must be at most ${2 ** 53 - 1}`,
  });
});

Deno.test("json schema - anyOf, allOf, not, const and contains are enforced", () => {
  const check = compileSchema({
    allOf: [
      { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }], errorMessage: "shape" },
      { not: { anyOf: [{ const: "" }, { type: "array", contains: { const: "" } }] }, errorMessage: "empty" },
    ],
  });
  assert.equal(check("a"), null);
  assert.equal(check(["a", "b"]), null);
  assert.equal(check(3)?.message, "shape");
  assert.equal(check(["a", 3])?.message, "shape");
  assert.equal(check("")?.message, "empty");
  assert.equal(check(["a", ""])?.message, "empty");
});

Deno.test("json schema - a keyword the validator does not enforce cannot be compiled", () => {
  assert.throws(() => compileSchema({ type: "string", maxLength: 3 } as JsonSchema), /maxLength/);
  assert.throws(
    () => compileSchema({ properties: { a: { additionalProperties: false } as JsonSchema } }),
    /additionalProperties/,
  );
});

Deno.test("json schema - the published schema is the same schema without errorMessage", () => {
  assert.deepEqual(publishedSchema(BODY), {
    type: "object",
    required: ["list"],
    properties: {
      list: {
        type: "array",
        minItems: 1,
        items: { type: "object", required: ["role"], properties: { role: { type: "string" } } },
      },
      n: { type: ["integer", "null"], minimum: 1 },
    },
  });
});
