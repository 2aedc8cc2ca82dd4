import assert from "node:assert/strict";
import { createLogger } from "../../shared/mod.ts";
import { startFakeHub } from "../../testing/fake_hub.ts";
import { pickUncensored } from "../models/uncensored.ts";
import { runUncensored } from "./uncensored.ts";

const log = createLogger({ level: "silent" });

async function run(args: string[], env: Record<string, string>): Promise<string[]> {
  const out: string[] = [];
  await runUncensored({ args, env, log, print: (l) => out.push(l) });
  return out;
}

Deno.test("uncensored - pulls the pick from the hub and sets only builtin_model in config.json", async () => {
  const memory = { vramMb: 4_096, ramMb: 8_000 };
  const pick = pickUncensored(memory)!;
  const hub = await startFakeHub({ repos: [{ id: pick.repo, files: [{ path: pick.file, size: 4096 }] }] });
  const home = await Deno.makeTempDir({ prefix: "infernet-uncensored-" });
  try {
    await Deno.writeTextFile(
      `${home}/config.json`,
      JSON.stringify({ server: "http://127.0.0.1:9", other_key: 1 }),
    );
    const env = { INFERNET_HOME: home, HF_ENDPOINT: hub.url };
    const flags = ["--vram-mb", "4096", "--ram-mb", "8000", "--engine-url", "http://127.0.0.1:1", "--json"];
    const dry = JSON.parse((await run([...flags, "--dry-run"], env))[0]);
    assert.deepEqual([dry.repo, dry.file, dry.engine, dry.dry_run], [pick.repo, pick.file, "builtin", true]);
    assert.equal(hub.requests.length, 0, "a dry run downloads nothing");

    const done = JSON.parse((await run(flags, env))[0]);
    assert.equal(done.sha256, hub.sha256(pick.repo, pick.file));
    const config = JSON.parse(await Deno.readTextFile(`${home}/config.json`));
    assert.deepEqual(config, { server: "http://127.0.0.1:9", other_key: 1, builtin_model: done.path });
    assert.deepEqual(await Deno.readFile(done.path), hub.bytes(pick.repo, pick.file));
  } finally {
    await hub.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("uncensored - says so when nothing fits", async () => {
  await assert.rejects(
    run(["--vram-mb", "0", "--ram-mb", "1024", "--engine-url", "http://127.0.0.1:1"], {
      INFERNET_HOME: "/nonexistent",
    }),
    /no model of the uncensored list fits/,
  );
});

Deno.test("uncensored - with no GPU it says the pick is sized for RAM and runs on the CPU", async () => {
  const lines = await run(
    ["--vram-mb", "0", "--ram-mb", "24000", "--engine-url", "http://127.0.0.1:1", "--dry-run"],
    { INFERNET_HOME: "/nonexistent" },
  );
  assert.match(lines[0], /^picked /);
  assert.match(lines[1], /no GPU found: sized for 24000 MB of RAM.*on the CPU/);
  const gpu = await run(
    ["--vram-mb", "24000", "--ram-mb", "24000", "--engine-url", "http://127.0.0.1:1", "--dry-run"],
    { INFERNET_HOME: "/nonexistent" },
  );
  assert.ok(!gpu.some((l) => l.includes("no GPU")), gpu.join("\n"));
});
