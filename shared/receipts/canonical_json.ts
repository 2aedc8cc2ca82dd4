// Canonical JSON for signed receipts: object keys sorted by UTF-16 code unit (JavaScript's
// default sort), no whitespace, numbers and strings as JSON.stringify writes them. A receipt's
// `content` is exactly this text, so anyone can re-serialise the fields and compare bytes.

/** A value that canonical JSON can hold. */
export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | CanonicalValue[]
  | { [key: string]: CanonicalValue };

/**
 * Whether JSON.stringify already writes `value` canonically: every object's own keys in sorted
 * order (JSON.stringify follows Object.keys), no undefined member, only finite numbers.
 */
function isInCanonicalOrder(value: CanonicalValue): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (Array.isArray(value)) {
    for (const v of value) if (v === undefined || !isInCanonicalOrder(v)) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  let last: string | null = null;
  for (const k in value) {
    const v = value[k];
    if ((last !== null && k <= last) || v === undefined || !isInCanonicalOrder(v)) return false;
    last = k;
  }
  return true;
}

/**
 * Serialises `value` with sorted keys and no whitespace; `undefined` members are dropped.
 * A value built (or parsed) with its keys already in order is written by JSON.stringify itself.
 * @example canonicalJson({ b: 1, a: [true, null] }) === '{"a":[true,null],"b":1}'
 */
export function canonicalJson(value: CanonicalValue): string {
  return isInCanonicalOrder(value) ? JSON.stringify(value) : sortedJson(value);
}

function sortedJson(value: CanonicalValue): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new TypeError("canonical JSON has no NaN or Infinity");
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(value[k])}`).join(",")}}`;
}

/** Whether `text` is the canonical serialisation of what it parses to. */
export function isCanonicalJson(text: string): boolean {
  try {
    return canonicalJson(JSON.parse(text)) === text;
  } catch {
    return false;
  }
}
