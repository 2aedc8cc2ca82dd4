// Recorded tool outputs and /proc files for the hardware tests, read by name.

/** The text of `testdata/<name>`. */
export function fixture(name: string): string {
  return Deno.readTextFileSync(new URL(`./${name}`, import.meta.url));
}
