// The one test for "a JSON object" at the edges, where parsed input is still `unknown`.

/** True for a plain object (not null, not an array), so its fields can be read by name. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
