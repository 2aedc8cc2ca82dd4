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

// An issue on its way up. The path is gathered only on failure (a valid body builds no strings):
// `at` holds the keys below the node that owns the message, innermost last once reversed. `final`
// once a schema's own errorMessage was chosen, so the nearest message to the failing value wins.
interface Found {
  at: (string | number)[];
  message: string;
  final: boolean;
}
type Check = (value: unknown) => Found | null;

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
  "anyOf",
  "allOf",
  "not",
]);

const TYPE_TESTS: Record<JsonType, (v: unknown) => boolean> = {
  object: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  array: (v) => Array.isArray(v),
  string: (v) => typeof v === "string",
  number: (v) => typeof v === "number",
  integer: (v) => Number.isInteger(v),
  boolean: (v) => typeof v === "boolean",
  null: (v) => v === null,
};

function typeTest(types: readonly JsonType[]): (v: unknown) => boolean {
  const tests = types.map((t) => TYPE_TESTS[t]);
  if (tests.length === 1) return tests[0];
  if (tests.length === 2) {
    const [a, b] = tests;
    return (v) => a(v) || b(v);
  }
  return (v) => tests.some((t) => t(v));
}

function describe(types: readonly JsonType[]): string {
  return types.filter((t) => t !== "null")
    .map((t) => t === "integer" || t === "array" || t === "object" ? `an ${t}` : `a ${t}`)
    .join(" or ");
}

function fail(message: string): Found {
  return { at: [], message, final: false };
}

function within(found: Found, key: string | number): Found {
  found.at.push(key);
  return found;
}

function pathOf(at: (string | number)[]): string | null {
  let path: string | null = null;
  for (let i = at.length - 1; i >= 0; i--) {
    const key = at[i];
    path = typeof key === "number" ? `${path ?? ""}[${key}]` : path === null ? key : `${path}.${key}`;
  }
  return path;
}

/**
 * Compiles a schema into its validator; throws when the schema uses a keyword it does not enforce.
 * An issue's message is the `errorMessage` of the nearest schema around the failing value (`{param}`
 * filled with that schema's path), else a plain sentence naming the path.
 */
export function compileSchema(schema: JsonSchema): Validator {
  const check = compile(schema);
  return (value) => {
    const found = check(value);
    if (found === null) return null;
    const param = pathOf(found.at);
    return { param, message: found.message.replaceAll("{param}", param ?? "the request body") };
  };
}

function compile(s: JsonSchema): Check {
  for (const key of Object.keys(s)) {
    if (!ENFORCED.has(key) && !ANNOTATIONS.has(key)) {
      throw new Error(`compileSchema: keyword ${key} is not enforced, so it may not be published`);
    }
  }
  const checks: Check[] = [];
  if (s.type !== undefined) {
    const types: readonly JsonType[] = typeof s.type === "string" ? [s.type] : s.type;
    const test = typeTest(types);
    const text = `{param} must be ${describe(types)}`;
    checks.push((v) => test(v) ? null : fail(text));
  }
  if (s.enum !== undefined) {
    const allowed = s.enum;
    const text = `{param} must be one of ${allowed.filter((x) => x !== null).join(", ")}`;
    checks.push((v) => allowed.includes(v) ? null : fail(text));
  }
  if ("const" in s) {
    const want = s.const;
    const text = `{param} must be ${JSON.stringify(want)}`;
    checks.push((v) => v === want ? null : fail(text));
  }
  if (s.required !== undefined || s.properties !== undefined) {
    checks.push(compileObject(s.properties ?? {}, s.required ?? []));
  }
  if (s.minItems !== undefined || s.items !== undefined || s.contains !== undefined) {
    checks.push(compileArray(s));
  }
  if (s.minLength !== undefined || s.pattern !== undefined) {
    const min = s.minLength ?? 0;
    const re = s.pattern === undefined ? null : new RegExp(s.pattern, "u");
    const text = re === null
      ? `{param} must be at least ${min} characters long`
      : `{param} must match ${s.pattern}`;
    checks.push((v) =>
      typeof v !== "string" || (v.length >= min && (re === null || re.test(v))) ? null : fail(text)
    );
  }
  if (s.minimum !== undefined) {
    const min = s.minimum;
    const text = `{param} must be at least ${min}`;
    checks.push((v) => typeof v !== "number" || v >= min ? null : fail(text));
  }
  if (s.anyOf !== undefined) {
    const branches = s.anyOf.map(compile);
    checks.push((v) => {
      for (let i = 0; i < branches.length; i++) if (branches[i](v) === null) return null;
      return fail("{param} is not valid");
    });
  }
  if (s.allOf !== undefined) checks.push(...s.allOf.map(compile));
  if (s.not !== undefined) {
    const inner = compile(s.not);
    checks.push((v) => inner(v) === null ? fail("{param} is not valid") : null);
  }
  const own = s.errorMessage;
  if (own === undefined && checks.length === 1) return checks[0];
  if (own === undefined && checks.length === 0) return () => null;
  return (value) => {
    for (let i = 0; i < checks.length; i++) {
      const found = checks[i](value);
      if (found === null) continue;
      if (found.final || own === undefined) return found;
      return { at: [], message: own, final: true };
    }
    return null;
  };
}

function compileObject(properties: Readonly<Record<string, JsonSchema>>, required: readonly string[]): Check {
  const props = Object.entries(properties).map(([k, sub]) => ({
    key: k,
    check: compile(sub),
    required: required.includes(k),
    message: sub.errorMessage,
  }));
  const others = required.filter((k) => !(k in properties));
  return (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
    const o = v as Record<string, unknown>;
    for (let i = 0; i < props.length; i++) {
      const prop = props[i];
      const x = o[prop.key];
      if (x === undefined) {
        if (!prop.required) continue;
        const found = prop.message === undefined
          ? fail("{param} is required")
          : { at: [], message: prop.message, final: true };
        return within(found, prop.key);
      }
      const found = prop.check(x);
      if (found !== null) return within(found, prop.key);
    }
    for (const k of others) {
      if (o[k] === undefined) return within(fail("{param} is required"), k);
    }
    return null;
  };
}

function compileArray(s: JsonSchema): Check {
  const min = s.minItems ?? 0;
  const tooShort = `{param} must have at least ${min} item${min === 1 ? "" : "s"}`;
  const item = s.items === undefined ? null : compile(s.items);
  const contains = s.contains === undefined ? null : compile(s.contains);
  return (v) => {
    if (!Array.isArray(v)) return null;
    if (v.length < min) return fail(tooShort);
    if (item !== null) {
      for (let i = 0; i < v.length; i++) {
        const found = item(v[i]);
        if (found !== null) return within(found, i);
      }
    }
    if (contains !== null && !v.some((x) => contains(x) === null)) {
      return fail("{param} must contain a matching item");
    }
    return null;
  };
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
