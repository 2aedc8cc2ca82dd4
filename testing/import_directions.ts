// The layout's import rules (STYLE.md "Layout shows the architecture"), checked over the module
// graph of the repository's own files: relative imports, dynamic imports and module URLs
// (`new URL("./x.ts", import.meta.url)`, as workers and spawned scripts are named).
// `deno run --allow-read testing/import_directions.ts` prints one line per violation and exits 1.
import { dirname, join, normalize, relative } from "node:path";

/** One broken rule: the file, the rule and the import chain that breaks it. */
export interface Violation {
  file: string;
  rule: string;
  chain: string[];
}

/** A module graph: repository-relative path → the repository-relative paths it imports. */
export type ModuleGraph = Map<string, string[]>;

const PRODUCT = ["cli", "web", "shared", "db"];
const BESIDE = ["testing", "tests", "bench", "dev"];
const SPECIFIER = new RegExp(
  [
    String.raw`(?:^|[\s;])(?:import|export)\s[^"'\x60;]*?\sfrom\s*["']([^"']+)["']`,
    String.raw`(?:^|[\s;])import\s*["']([^"']+)["']`,
    String.raw`\bimport\(\s*["']([^"']+)["']\s*\)`,
    String.raw`new URL\(\s*["']([^"']+\.tsx?)["']\s*,\s*import\.meta\.url`,
  ].join("|"),
  "gm",
);

// Packages a rule names, kept in the graph as `npm:<specifier>` (the root of nostr-tools
// re-exports its nip44 module).
const WATCHED_PACKAGES = ["nostr-tools", "nostr-tools/nip44"];

// Direct mode (docs/protocol.md §14): the control plane routes and pays but never opens a prompt,
// so web/ must not reach the code that decrypts one.
const DECRYPTION = [
  "shared/direct/framing.ts",
  "shared/direct/mod.ts",
  "npm:nostr-tools/nip44",
  "npm:nostr-tools",
];

function allSpecifiers(source: string): string[] {
  return [...source.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]);
}

/** The relative module specifiers a source file names. */
export function moduleSpecifiers(source: string): string[] {
  return allSpecifiers(source).filter((spec) => spec.startsWith("./") || spec.startsWith("../"));
}

/** Builds the graph from file contents keyed by repository-relative path. */
export function buildGraph(files: Map<string, string>): ModuleGraph {
  const graph: ModuleGraph = new Map();
  for (const [file, source] of files) {
    const packages = allSpecifiers(source).filter((spec) => WATCHED_PACKAGES.includes(spec));
    graph.set(file, [
      ...moduleSpecifiers(source).map((spec) => normalize(join(dirname(file), spec))),
      ...packages.map((spec) => `npm:${spec}`),
    ]);
  }
  return graph;
}

function area(file: string): string {
  return file.includes("/") ? file.slice(0, file.indexOf("/")) : "";
}

function isTest(file: string): boolean {
  return /_test\.tsx?$/.test(file);
}

/** What a file may never reach, directly or through other files, and the rule's wording. */
function forbidden(file: string): { areas: string[]; files?: string[]; rule: string }[] {
  const a = area(file);
  const rules: { areas: string[]; files?: string[]; rule: string }[] = [];
  if (PRODUCT.includes(a) && !isTest(file)) {
    rules.push({ areas: BESIDE, rule: "product code never imports testing/, tests/, bench/ or dev/" });
  }
  if (a === "shared") {
    rules.push({ areas: ["cli", "web", "db"], rule: "shared/ imports neither cli/, web/ nor db/" });
  }
  if (a === "cli") rules.push({ areas: ["web", "db"], rule: "cli/ never imports web/ or db/" });
  if (a === "web") rules.push({ areas: ["cli"], rule: "web/ never imports cli/" });
  if (a === "web") {
    rules.push({ areas: [], files: DECRYPTION, rule: "web/ never imports decryption (direct mode)" });
  }
  if (a === "db") rules.push({ areas: ["web", "cli"], rule: "db/ imports neither web/ nor cli/" });
  if (a !== "tests" && a !== "") rules.push({ areas: ["tests"], rule: "only tests/ imports tests/" });
  if (a !== "bench" && a !== "") rules.push({ areas: ["bench"], rule: "only bench/ imports bench/" });
  if (a !== "dev") rules.push({ areas: ["dev"], rule: "only dev/ imports dev/" });
  return rules;
}

/** Every rule the graph breaks, with the shortest chain of imports that breaks it. */
export function findViolations(graph: ModuleGraph): Violation[] {
  const violations: Violation[] = [];
  for (const file of [...graph.keys()].sort()) {
    for (const { areas, files, rule } of forbidden(file)) {
      const chain = shortestChain(graph, file, (f) => areas.includes(area(f)) || !!files?.includes(f));
      if (chain) violations.push({ file, rule, chain });
    }
  }
  return violations;
}

function shortestChain(graph: ModuleGraph, from: string, hit: (f: string) => boolean): string[] | null {
  const previous = new Map<string, string>([[from, ""]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    for (const next of graph.get(queue[i]) ?? []) {
      if (previous.has(next)) continue;
      previous.set(next, queue[i]);
      if (hit(next)) {
        const chain = [next];
        for (let f = queue[i]; f; f = previous.get(f)!) chain.unshift(f);
        return chain;
      }
      queue.push(next);
    }
  }
  return null;
}

/** Reads every .ts/.tsx file under root (skipping node_modules and dot folders). */
export async function readRepository(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) {
        if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
        await walk(path);
      } else if (/\.tsx?$/.test(entry.name)) {
        files.set(relative(root, path), await Deno.readTextFile(path));
      }
    }
  };
  await walk(root);
  return files;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname;
  const violations = findViolations(buildGraph(await readRepository(root)));
  for (const v of violations) console.error(`${v.file}: ${v.rule} (${v.chain.join(" → ")})`);
  if (violations.length) Deno.exit(1);
}
