// Debian's Chromium for the dashboard's browser tests, driven by playwright-core with the flags
// DEVELOPERS.md gives, a screenshot helper writing under artifacts/<folder>/, and the set-up most
// browser tests share (a served control plane, one real node, Chromium).
import fs from "node:fs";
import type { Browser, Page } from "playwright-core";
import { startTestEngine, type TestEngine } from "./test_engine.ts";
import { type NodeProcess, startNode, stopNode } from "./network.ts";
import { type DashboardEnv, startDashboard } from "./dashboard.ts";

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
  return new URL(`../artifacts/${folder}/`, import.meta.url).pathname;
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

/** What {@link withNodeAndBrowser} sets up for a browser test. */
export interface BrowserRig {
  shot: (page: Page, name: string) => Promise<void>;
  env: DashboardEnv;
  /** The node's engine (its failure modes can be switched on). */
  engine: TestEngine;
  node: NodeProcess;
  browser: Browser;
}

/**
 * Runs a browser test against a served control plane with one real node (test engine behind an
 * `infernet start` daemon) and Chromium; on failure dumps every open page; always tears it down.
 */
export async function withNodeAndBrowser(
  folder: string,
  fn: (rig: BrowserRig) => Promise<void>,
): Promise<void> {
  const shot = await screenshots(folder);
  const env = await startDashboard();
  const engine = await startTestEngine();
  const node = await startNode({ cp: env.tcp.cp, url: env.url }, engine.url);
  const browser = await launchChromium();
  try {
    await fn({ shot, env, engine, node, browser });
  } catch (err) {
    await dumpOpenPages(browser, shot);
    throw err;
  } finally {
    await browser.close();
    await stopNode(node).catch(() => {});
    await engine.close();
    await env.close();
  }
}
