// The `infernet` command as an operator runs it: `deno task infernet …` with its own permissions.
import assert from "node:assert/strict";
import { decode } from "nostr-tools/nip19";
import { runCli } from "../testing/run_cli.ts";
import { backoffMs } from "./daemon/node_daemon.ts";
import { readNodeConfig } from "./config.ts";
import { CliError } from "./cli_error.ts";
import { startTestEngine } from "../testing/mod.ts";

async function withHome(fn: (home: string) => Promise<void>) {
  const home = await Deno.makeTempDir({ prefix: "infernet-cli-" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("cli - init writes a 0600 key, prints the npub, and refuses to overwrite without --force", async () => {
  await withHome(async (home) => {
    const first = await runCli(["init"], { INFERNET_HOME: home });
    assert.equal(first.code, 0, first.stderr);
    const npub = /npub1[a-z0-9]+/.exec(first.stdout)?.[0];
    assert.ok(npub && decode(npub).type === "npub");
    const key = await Deno.stat(`${home}/node.key`);
    assert.equal(key.mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(home)).mode! & 0o077, 0, "the home folder is private");
    const again = await runCli(["init"], { INFERNET_HOME: home });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists.*--force/);
    assert.equal(again.stderr.trim().split("\n").length, 1, "one line");
    const oldKey = await Deno.readTextFile(`${home}/node.key`);
    // A bad flag beside --force writes nothing: the key is still the old one.
    const typo = await runCli(["init", "--force", "--server", "notaurl"], { INFERNET_HOME: home });
    assert.equal(typo.code, 2);
    assert.equal(await Deno.readTextFile(`${home}/node.key`), oldKey);
    const forced = await runCli(["init", "--force", "--json"], { INFERNET_HOME: home });
    assert.equal(forced.code, 0);
    const out = JSON.parse(forced.stdout);
    assert.notEqual(out.npub, npub);
    // The replaced key is kept beside it, private.
    const backups = [...Deno.readDirSync(home)].filter((e) => e.name.startsWith("node.key.bak-"));
    assert.equal(backups.length, 1);
    assert.equal(out.old_key_file, `${home}/${backups[0].name}`);
    assert.equal(await Deno.readTextFile(`${home}/${backups[0].name}`), oldKey);
    assert.equal((await Deno.stat(`${home}/${backups[0].name}`)).mode! & 0o777, 0o600);
  });
});

Deno.test("cli - usage errors and missing setup give one line and a non-zero exit", async () => {
  await withHome(async (home) => {
    const env = { INFERNET_HOME: home };
    const unknown = await runCli(["frobnicate"], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^infernet: unknown command 'frobnicate'/);
    const badFlag = await runCli(["init", "--nope"], env);
    assert.equal(badFlag.code, 2);
    const noKey = await runCli(["register", "--server", "http://127.0.0.1:9"], env);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /run 'infernet init' first/);
    await runCli(["init"], env);
    const noEngine = await runCli([
      "register",
      "--server",
      "http://127.0.0.1:9",
      "--engine-url",
      "http://127.0.0.1:9",
    ], env);
    assert.equal(noEngine.code, 1);
    assert.match(noEngine.stderr, /no OpenAI-compatible engine answers at http:\/\/127\.0\.0\.1:9/);
    const badUrl = await runCli(["register", "--server", "ftp://x"], env);
    assert.equal(badUrl.code, 2);
    // A file the launcher could not grant (it does not exist): one line, no stack.
    const missing = await runCli(["receipts", "verify", `${home}-missing/r.json`], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^infernet: cannot use .*-missing\/r\.json: it does not exist/);
    for (const r of [unknown, badFlag, noKey, noEngine, badUrl, missing]) {
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
  });
});

Deno.test("cli - status reports an unreachable control plane instead of failing", async () => {
  await withHome(async (home) => {
    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ server: "http://127.0.0.1:9" }));
    // status reads only the home; a server that does not answer is reported, not fatal.
    await runCli(["init"], { INFERNET_HOME: home });
    const status = await runCli(["status", "--json"], { INFERNET_HOME: home });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout);
    assert.equal(s.server, "http://127.0.0.1:9");
    assert.match(s.network.error, /cannot reach/);
  });
});

Deno.test("cli - a malformed config.json is an error, never ignored", async () => {
  await withHome(async (home) => {
    await Deno.writeTextFile(`${home}/config.json`, "{ not json");
    await assert.rejects(
      readNodeConfig(home),
      (e: unknown) => e instanceof CliError && /not valid JSON/.test(e.message),
    );
    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ max_concurrency: 0 }));
    await assert.rejects(readNodeConfig(home), /max_concurrency/);
  });
});

Deno.test("cli - reconnect backoff doubles from 0.5 s to a cap, with ±50 % jitter", () => {
  assert.equal(backoffMs(0, 30_000, () => 0.5), 500);
  assert.equal(backoffMs(3, 30_000, () => 0.5), 4000);
  assert.equal(backoffMs(20, 30_000, () => 0.5), 30_000);
  assert.equal(backoffMs(0, 30_000, () => 0), 250);
  assert.equal(backoffMs(0, 30_000, () => 0.999), 750);
});

Deno.test("cli - a server that answers 2xx but is no control plane is not taken as one, nor remembered", async () => {
  const engine = await startTestEngine();
  const portal = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("{not json"),
  );
  try {
    await withHome(async (home) => {
      const env = { INFERNET_HOME: home };
      assert.equal((await runCli(["init", "--server", "http://127.0.0.1:9"], env)).code, 0);
      const url = `http://127.0.0.1:${portal.addr.port}`;
      const r = await runCli(["register", "--server", url, "--engine-url", engine.url], env);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /answered HTTP 200 but not as an Infernet control plane/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.equal((await readNodeConfig(home)).server, "http://127.0.0.1:9", "the configured server stays");
    });
  } finally {
    await portal.shutdown();
    await engine.close();
  }
});

Deno.test("cli - --help on a command prints its usage to stdout and exits 0", async () => {
  await withHome(async (home) => {
    for (
      const args of [["init"], ["start"], ["status"], ["receipts", "verify"], ["reputation"], ["payout"], [
        "model",
      ]]
    ) {
      const r = await runCli([...args, "--help"], { INFERNET_HOME: home });
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: infernet ${args[0]}`), args.join(" "));
    }
    assert.match((await runCli(["init", "--help"], { INFERNET_HOME: home })).stdout, /\[--force\]/);
  });
});
