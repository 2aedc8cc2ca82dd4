// Request schemas are written once, as JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1), and
// serve twice: compiled here into the validator the edge runs, and published as-is in /openapi.json.
// Only the keywords below are enforced; any other assertion keyword is refused when compiling, so
// a schema can never promise in the document what the validator does not check. Objects stay open
// (OpenAI's passthrough: fields the schema does not name go to the engine untouched).

/** A JSON Schema, limited to the keywords {@link compileSchema} enforces plus annotations. */
export interface JsonSchema {
  type?: JsonType | readonly JsonType[];
  enum?: readonly unknown[];
  const?: unknown;
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  items?: JsonSchema;
  contains?: JsonSchema;
  minItems?: number;
  minLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  anyOf?: readonly JsonSchema[];
  allOf?: readonly JsonSchema[];
  not?: JsonSchema;
  /**
   * The error a client reads when this schema (or a part of it without its own) fails; `{param}`
   * stands for the failing value's path. Not JSON Schema: {@link publishedSchema} drops it.
   */
  errorMessage?: string;
  description?: string;
  title?: string;
  examples?: readonly unknown[];
  default?: unknown;
  format?: string;
}

/** The JSON types a schema names (`integer` is a number with no fraction). */
export type JsonType = "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";

/** Why a value failed: the path at fault in OpenAI's `param` form (`messages[0]`, `provider.only`). */
export interface SchemaIssue {
  param: string | null;
  message: string;
}

/** A compiled schema: null when the value is valid, else the first issue in the schema's order. */
export type Validator = (value: unknown) => SchemaIssue | null;

const ANNOTATIONS = new Set(["errorMessage", "description", "title", "examples", "default", "format"]);
const ENFORCED = new Set([
  "type",
  "enum",
  "const",
  "properties",
  "required",
  "items",
  "contains",
  "minItems",
  "minLength",
  "pattern",
  "minimum",
  "maximum",
  "anyOf",
  "allOf",
  "not",
]);

const TYPE_TESTS: Record<JsonType, (v: string) => string> = {
  object: (v) => `(typeof ${v} === "object" && ${v} !== null && !Array.isArray(${v}))`,
  array: (v) => `Array.isArray(${v})`,
  string: (v) => `typeof ${v} === "string"`,
  number: (v) => `typeof ${v} === "number"`,
  integer: (v) => `Number.isInteger(${v})`,
  boolean: (v) => `typeof ${v} === "boolean"`,
  null: (v) => `${v} === null`,
};

function describe(types: readonly JsonType[]): string {
  return types.filter((t) => t !== "null")
    .map((t) => t === "integer" || t === "array" || t === "object" ? `an ${t}` : `a ${t}`)
    .join(" or ");
}

// A path as code: property names are known when compiling, array indexes are loop variables.
type Segment = { key: string } | { index: string };

function pathCode(path: readonly Segment[]): string {
  if (path.length === 0) return "null";
  const parts: string[] = [];
  let text = "";
  for (const seg of path) {
    if ("key" in seg) text += (text === "" && parts.length === 0 ? "" : ".") + seg.key;
    else {
      parts.push(JSON.stringify(text + "["), seg.index);
      text = "]";
    }
  }
  if (text !== "") parts.push(JSON.stringify(text));
  return parts.join(" + ");
}

// Where a failure goes: out of the validator with the nearest errorMessage around it (`owner`),
// or, inside anyOf/not, to the end of the branch being tried.
interface Scope {
  owner: { path: readonly Segment[]; message: string } | null;
  branch: string | null;
}

class Generator {
  readonly constants: unknown[] = [];
  #names = 0;

  name(prefix: string): string {
    return `${prefix}${this.#names++}`;
  }

  constant(value: unknown): string {
    this.constants.push(value);
    return `K[${this.constants.length - 1}]`;
  }

  fail(scope: Scope, path: readonly Segment[], message: string): string {
    if (scope.branch !== null) return `break ${scope.branch};`;
    const [at, text] = scope.owner === null ? [path, message] : [scope.owner.path, scope.owner.message];
    return `return issue(${pathCode(at)}, ${JSON.stringify(text)});`;
  }

  /** Code that falls through when `v` is valid against `s`, and fails as `scope` says otherwise. */
  node(s: JsonSchema, v: string, path: readonly Segment[], outer: Scope): string {
    for (const key of Object.keys(s)) {
      if (!ENFORCED.has(key) && !ANNOTATIONS.has(key)) {
        throw new Error(`compileSchema: keyword ${key} is not enforced, so it may not be published`);
      }
    }
    const scope: Scope = s.errorMessage === undefined || outer.branch !== null
      ? outer
      : { owner: { path, message: s.errorMessage }, branch: null };
    const out: string[] = [];
    const check = (ok: string, message: string) =>
      out.push(`if (!(${ok})) ${this.fail(scope, path, message)}`);
    if (s.type !== undefined) {
      const types: readonly JsonType[] = typeof s.type === "string" ? [s.type] : s.type;
      check(types.map((t) => TYPE_TESTS[t](v)).join(" || "), `{param} must be ${describe(types)}`);
    }
    if (s.enum !== undefined) {
      const text = `{param} must be one of ${s.enum.filter((x) => x !== null).join(", ")}`;
      check(`${this.constant(s.enum)}.includes(${v})`, text);
    }
    if ("const" in s) {
      if (typeof s.const === "object" && s.const !== null) {
        throw new Error("compileSchema: const must be a scalar");
      }
      check(`${v} === ${this.constant(s.const)}`, `{param} must be ${JSON.stringify(s.const)}`);
    }
    if (s.required !== undefined || s.properties !== undefined) out.push(this.object(s, v, path, scope));
    if (s.minItems !== undefined || s.items !== undefined || s.contains !== undefined) {
      out.push(this.array(s, v, path, scope));
    }
    if (s.minLength !== undefined) {
      check(
        `typeof ${v} !== "string" || ${v}.length >= ${s.minLength}`,
        `{param} must be at least ${s.minLength} characters long`,
      );
    }
    if (s.pattern !== undefined) {
      const re = this.constant(new RegExp(s.pattern, "u"));
      check(`typeof ${v} !== "string" || ${re}.test(${v})`, `{param} must match ${s.pattern}`);
    }
    if (s.minimum !== undefined) {
      check(`typeof ${v} !== "number" || ${v} >= ${s.minimum}`, `{param} must be at least ${s.minimum}`);
    }
    if (s.maximum !== undefined) {
      check(`typeof ${v} !== "number" || ${v} <= ${s.maximum}`, `{param} must be at most ${s.maximum}`);
    }
    if (s.anyOf !== undefined) {
      const ok = this.name("ok");
      out.push(`let ${ok} = false;`);
      for (const branch of s.anyOf) {
        const label = this.name("b");
        out.push(
          `if (!${ok}) ${label}: { ${
            this.node(branch, v, path, { owner: null, branch: label })
          } ${ok} = true; }`,
        );
      }
      out.push(`if (!${ok}) ${this.fail(scope, path, "{param} is not valid")}`);
    }
    for (const sub of s.allOf ?? []) out.push(this.node(sub, v, path, scope));
    if (s.not !== undefined) {
      const label = this.name("n");
      const inner = this.node(s.not, v, path, { owner: null, branch: label });
      out.push(`${label}: { ${inner} ${this.fail(scope, path, "{param} is not valid")} }`);
    }
    return out.join("\n");
  }

  object(s: JsonSchema, v: string, path: readonly Segment[], scope: Scope): string {
    const required = s.required ?? [];
    const out: string[] = [];
    for (const [key, sub] of Object.entries(s.properties ?? {})) {
      const x = this.name("v");
      const at = [...path, { key }];
      const missing = sub.errorMessage === undefined || scope.branch !== null
        ? this.fail(scope, at, "{param} is required")
        : this.fail({ owner: { path: at, message: sub.errorMessage }, branch: null }, at, "");
      out.push(`const ${x} = ${v}[${JSON.stringify(key)}];`);
      out.push(
        `if (${x} === undefined) { ${required.includes(key) ? missing : ""} } else { ${
          this.node(sub, x, at, scope)
        } }`,
      );
    }
    for (const key of required.filter((k) => !(k in (s.properties ?? {})))) {
      out.push(
        `if (${v}[${JSON.stringify(key)}] === undefined) ${
          this.fail(scope, [...path, { key }], "{param} is required")
        }`,
      );
    }
    return `if (${TYPE_TESTS.object(v)}) { ${out.join("\n")} }`;
  }

  array(s: JsonSchema, v: string, path: readonly Segment[], scope: Scope): string {
    const out: string[] = [];
    const min = s.minItems ?? 0;
    if (min > 0) {
      out.push(
        `if (${v}.length < ${min}) ${
          this.fail(scope, path, `{param} must have at least ${min} item${min === 1 ? "" : "s"}`)
        }`,
      );
    }
    if (s.items !== undefined) {
      const i = this.name("i");
      const x = this.name("v");
      const body = this.node(s.items, x, [...path, { index: i }], scope);
      out.push(`for (let ${i} = 0; ${i} < ${v}.length; ${i}++) { const ${x} = ${v}[${i}]; ${body} }`);
    }
    if (s.contains !== undefined) {
      const i = this.name("i");
      const x = this.name("v");
      const found = this.name("found");
      const label = this.name("c");
      const body = this.node(s.contains, x, path, { owner: null, branch: label });
      out.push(`let ${found} = false;`);
      out.push(
        `for (let ${i} = 0; ${i} < ${v}.length && !${found}; ${i}++) { const ${x} = ${v}[${i}]; ${label}: { ${body} ${found} = true; } }`,
      );
      out.push(`if (!${found}) ${this.fail(scope, path, "{param} must contain a matching item")}`);
    }
    return `if (Array.isArray(${v})) { ${out.join("\n")} }`;
  }
}

function issue(param: string | null, message: string): SchemaIssue {
  return { param, message: message.replaceAll("{param}", param ?? "the request body") };
}

/**
 * Compiles a schema into its validator; throws when the schema uses a keyword it does not enforce.
 * An issue's message is the `errorMessage` of the nearest schema around the failing value (`{param}`
 * filled with that schema's path), else a plain sentence naming the path. The schema becomes one
 * straight-line function (as Ajv does), about as fast as checks written by hand.
 */
export function compileSchema(schema: JsonSchema): Validator {
  const gen = new Generator();
  const body = gen.node(schema, "v", [], { owner: null, branch: null });
  // The code is built from our own schema constants only; values reach it as data, never as code.
  const make = new Function("K", "issue", `return function validate(v) {\n${body}\nreturn null;\n};`);
  return make(gen.constants, issue) as Validator;
}

/** The schema as published in the OpenAPI document: the same object minus our `errorMessage`. */
export function publishedSchema(schema: JsonSchema): Record<string, unknown> {
  return strip(schema) as Record<string, unknown>;
}

function strip(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(strip);
  if (typeof x !== "object" || x === null) return x;
  return Object.fromEntries(
    Object.entries(x).filter(([k]) => k !== "errorMessage").map(([k, v]) => [k, strip(v)]),
  );
}
