// Client islands: each `web/islands/<Name>.tsx` is bundled by esbuild (in memory, once per
// process, on the first asset request) into `/assets/islands/<Name>.js`, an ES module that
// hydrates every `<div data-island="<Name>">` with the JSON props in the script block after it.
// Islands use Preact's automatic JSX runtime: a precompiled island renders but never hydrates.
import * as esbuild from "esbuild";

/** The islands shipped to the browser. */
export const ISLANDS = ["ClaimSigner", "CopyButton", "DepositStatus", "NetworkStats", "NostrLogin"] as const;

/** An island's name. */
export type IslandName = (typeof ISLANDS)[number];

const ISLANDS_DIR = new URL("../islands/", import.meta.url);

let built: Promise<Map<string, string>> | null = null;

function entry(name: IslandName): string {
  return `import { h, hydrate } from "preact";
import Island from ${JSON.stringify(`./${name}.tsx`)};
for (const el of document.querySelectorAll('[data-island="${name}"]')) {
  const data = el.nextElementSibling;
  hydrate(h(Island, JSON.parse(data && data.textContent || "{}")), el);
}`;
}

async function buildAll(): Promise<Map<string, string>> {
  const dir = ISLANDS_DIR.pathname;
  try {
    const out = new Map<string, string>();
    for (const name of ISLANDS) {
      const result = await esbuild.build({
        stdin: { contents: entry(name), resolveDir: dir, sourcefile: `${name}.entry.js`, loader: "js" },
        bundle: true,
        format: "esm",
        minify: true,
        write: false,
        jsx: "automatic",
        jsxImportSource: "preact",
        target: "es2022",
        nodePaths: [new URL("../../node_modules/", import.meta.url).pathname],
        logLevel: "silent",
      });
      out.set(name, result.outputFiles[0].text);
    }
    return out;
  } finally {
    // The esbuild service is a child process: stop it once the bundles are in memory.
    await esbuild.stop();
  }
}

/** The bundled module of an island, or null for an unknown name. */
export async function islandBundle(name: string): Promise<string | null> {
  if (!(ISLANDS as readonly string[]).includes(name)) return null;
  built ??= buildAll().catch((err) => {
    built = null;
    throw err;
  });
  return (await built).get(name) ?? null;
}
