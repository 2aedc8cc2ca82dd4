// Debian's Chromium for the dashboard's browser tests, driven by playwright-core with the flags
// DEVELOPERS.md gives, and a screenshot helper writing under artifacts/<folder>/.
import fs from "node:fs";
import type { Browser, Page } from "playwright-core";

// playwright-core probes /proc for WSL when it loads; Deno refuses /proc reads under the test
// task's explicit permissions (NotCapable), where Node would say "no such file". Answer as Node.
const existsSync = fs.existsSync;
fs.existsSync = (path: fs.PathLike) => {
  try {
    return existsSync(path);
  } catch {
    return false;
  }
};
const { chromium } = await import("playwright-core");

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

/** The folder a test's screenshots go to: artifacts/<folder>/ (with a trailing slash). */
export function artifactsDir(folder: string): string {
  return new URL(`../../artifacts/${folder}/`, import.meta.url).pathname;
}

/** Screenshots of one test: `shot(page, name)` writes artifacts/<folder>/<name>.png. */
export async function screenshots(folder: string): Promise<(page: Page, name: string) => Promise<void>> {
  const dir = artifactsDir(folder);
  await Deno.mkdir(dir, { recursive: true });
  return async (page, name) => {
    await page.screenshot({ path: `${dir}${name}.png`, fullPage: true });
  };
}

/** After a failure: a screenshot (named "failure") and the start of the HTML of every open page. */
export async function dumpOpenPages(browser: Browser, shot: (page: Page, name: string) => Promise<void>) {
  for (const page of browser.contexts().flatMap((c) => c.pages())) {
    await shot(page, "failure").catch(() => {});
    console.error(`failed at ${page.url()}:\n${(await page.content().catch(() => "")).slice(0, 3000)}`);
  }
}
