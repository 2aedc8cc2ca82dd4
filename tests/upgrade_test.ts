// End to end: a node upgrades itself while serving. A real `infernet start` (through the
// launcher, as an operator runs it) finds a newer version on a fake npm registry — a tarball of
// this repository's CLI with a bumped version — installs and test-runs it, drains (a streaming
// job in flight finishes, every token and [DONE]; new jobs go to the other node), switches
// `current`, restarts as the new version and registers again with it.
import assert from "node:assert/strict";
import { startTestEngine, type TestEngine } from "../testing/test_engine.ts";
import { cliCommand, runCli } from "../testing/run_cli.ts";
import { type PackFile, signedPackFiles, startFakeNpmRegistry } from "../testing/fake_npm_registry.ts";
import { CLI_VERSION } from "../cli/version.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { sleep } from "../shared/mod.ts";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";

const ROOT = new URL("..", import.meta.url).pathname;
/** The publisher's release key; the upgrading node trusts it (upgrade.release_keys). */
const releaseKey = generateSecretKey();

/** This checkout's CLI as an npm package tarball would hold it, at another version, signed. */
async function packageFiles(version: string): Promise<PackFile[]> {
  const files: PackFile[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "testdata") await walk(path);
      else if (e.isFile && !e.name.endsWith("_test.ts")) {
        files.push({ path, data: await Deno.readFile(`${ROOT}${path}`) });
      }
    }
  };
  await walk("cli");
  await walk("shared");
  const pkg = JSON.parse(await Deno.readTextFile(`${ROOT}package.json`));
  files.push(
    { path: "package.json", data: JSON.stringify({ ...pkg, version, private: undefined }, null, 2) },
    { path: "deno.json", data: await Deno.readFile(`${ROOT}deno.json`) },
    { path: "import_map.json", data: await Deno.readFile(`${ROOT}import_map.json`) },
  );
  const i = files.findIndex((f) => f.path === "cli/version.ts");
  files[i] = { path: "cli/version.ts", data: `export const CLI_VERSION = ${JSON.stringify(version)};\n` };
  return signedPackFiles(files, releaseKey, "infernet", version);
}

function bump(version: string): string {
  const [major, minor, patch] = version.split("-")[0].split(".").map(Number);
  return `${major}.${minor}.${patch + 1}`;
}

function collect(stream: ReadableStream<Uint8Array>): () => string {
  let text = "";
  void stream.pipeThrough(new TextDecoderStream() as TransformStream<Uint8Array, string>).pipeTo(
    new WritableStream({ write: (s) => void (text = (text + s).slice(-50_000)) }),
  ).catch(() => {});
  return () => text;
}

async function until(what: string, ok: () => boolean, timeoutMs: number, log: () => string = () => "") {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await sleep(25);
  }
}

const requestsTo = (engine: TestEngine) => engine.events.filter((e) => e.type === "request").length;

Deno.test({
  name:
    "e2e upgrade - an in-flight stream finishes across a self-upgrade; the node returns as the new version",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const next = bump(CLI_VERSION);
    const registry = startFakeNpmRegistry();
    await registry.publish("infernet", CLI_VERSION, await packageFiles(CLI_VERSION));
    const t = await openTestControlPlane({ serve: true });
    const url = t.server!.url;
    const slow = await startTestEngine({ tokenDelayMs: 60 });
    const other = await startTestEngine();
    const children: Deno.ChildProcess[] = [];
    const homes: string[] = [];
    const logs: (() => string)[] = [];
    const start = async (engine: TestEngine, upgrade: Record<string, unknown> | null) => {
      const home = await Deno.makeTempDir({ prefix: "infernet-upgrade-node-" });
      homes.push(home);
      const env = { INFERNET_HOME: home, INFERNET_LOG_LEVEL: "info" };
      const init = await runCli(["init", "--json"], env);
      assert.equal(init.code, 0, init.stderr);
      const { pubkey } = JSON.parse(init.stdout);
      if (upgrade) await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ upgrade }));
      const args = [
        "start",
        "--server",
        url,
        "--engine-url",
        engine.url,
        ...(upgrade ? [] : ["--no-auto-upgrade"]),
      ];
      const child = cliCommand(args, env).spawn();
      children.push(child);
      collect(child.stdout);
      const stderr = collect(child.stderr);
      logs.push(stderr);
      await until("the node to connect", () => !!t.cp.registry.get(pubkey)?.connection?.open, 30_000, stderr);
      return { pubkey, home, stderr };
    };
    try {
      // Node A upgrades itself (checks every ~0.4 s here); node B never does.
      const a = await start(slow, {
        registry: registry.url,
        interval_hours: 0.4 / 3600,
        drain_timeout_s: 120,
        release_keys: [npubEncode(getPublicKey(releaseKey))],
      });
      await start(other, null);
      assert.equal(t.cp.registry.get(a.pubkey)!.record.version, CLI_VERSION);

      // A long stream pinned to node A: ~120 tokens at 60 ms each.
      const words = Array.from({ length: 120 }, (_, i) => `w${i}`).join(" ");
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "infernet-test-echo",
          stream: true,
          max_tokens: 1000,
          messages: [{ role: "user", content: words }],
          provider: { only: [a.pubkey] },
        }),
      });
      assert.equal(res.status, 200);
      const reader = res.body!.pipeThrough(new TextDecoderStream() as TransformStream<Uint8Array, string>)
        .getReader();
      let sse = "";
      const first = await reader.read();
      sse += first.value ?? "";
      const streamDone = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          sse += value;
        }
      })();

      // Publish the new version mid-stream; node A must drain: it advertises no models.
      await registry.publish("infernet", next, await packageFiles(next));
      await until(
        "node A to drain",
        () => t.cp.registry.get(a.pubkey)!.record.models.length === 0,
        30_000,
        a.stderr,
      );
      assert.equal(requestsTo(slow), 1, "only the stream reached node A");

      // New jobs meanwhile all go to node B.
      const chat = (extra: Record<string, unknown> = {}) =>
        fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: "infernet-test-echo",
            messages: [{ role: "user", content: "hi" }],
            ...extra,
          }),
        });
      for (let i = 0; i < 5; i++) {
        const r = await chat();
        assert.equal(r.status, 200, await r.clone().text());
        assert.equal((await r.json()).choices[0].message.content, "Echo: hi");
      }
      assert.equal(requestsTo(slow), 1, "no new job went to the draining node");
      assert.equal(requestsTo(other), 5);
      assert.equal(
        t.cp.registry.get(a.pubkey)!.record.version,
        CLI_VERSION,
        "still the old version while draining",
      );

      // The stream ends complete and correct.
      await streamDone;
      const events = sse.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
      assert.equal(events.at(-1), "[DONE]");
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      assert.ok(chunks.every((c) => !c.error), "no error event");
      const text = chunks.map((c) => c.choices?.[0]?.delta?.content ?? "").join("");
      assert.equal(text, `Echo: ${words}`);

      // Node A comes back as the new version, registered and connected, and serves again.
      await until(
        `node A to return as ${next}`,
        () => {
          const n = t.cp.registry.get(a.pubkey)!;
          return n.record.version === next && n.record.models.length > 0 && !!n.connection?.open;
        },
        60_000,
        a.stderr,
      );
      assert.equal(await Deno.readLink(`${a.home}/current`), `versions/${next}/package`);
      const r = await chat({ provider: { only: [a.pubkey] } });
      assert.equal(r.status, 200, await r.clone().text());
      assert.equal((await r.json()).choices[0].message.content, "Echo: hi");
      assert.equal(requestsTo(slow), 2);
      assert.match(a.stderr(), /starting the upgraded version/);
    } catch (err) {
      for (const l of logs) console.error(`--- node stderr ---\n${l()}`);
      throw err;
    } finally {
      for (const child of children) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Exited already.
        }
      }
      await Promise.all(children.map((c) => c.status));
      await Promise.all([slow.close(), other.close(), registry.close(), t.close()]);
      for (const home of homes) await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  },
});
