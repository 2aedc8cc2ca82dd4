// Several control planes in the node's config: `server` as a list or comma-separated, `--server`
// repeated or comma-separated; bad URLs are one-line errors; one server stays a plain string.
import assert from "node:assert/strict";
import { deepStrictEqual, rejects, throws } from "node:assert/strict";
import {
  parseRelayFlag,
  parseServerList,
  readNodeConfig,
  resolveServers,
  writeNodeConfig,
} from "./config.ts";

async function withHome(fn: (home: string) => Promise<void>) {
  const home = await Deno.makeTempDir({ prefix: "infernet-config-" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("config - a server list is URLs, comma-separated, trailing slashes and duplicates dropped", () => {
  assert.deepEqual(parseServerList("http://a:1/, https://b.example ,http://a:1"), [
    "http://a:1",
    "https://b.example",
  ]);
  assert.throws(
    () => parseServerList("http://a:1,ftp://b"),
    /--server must be http\(s\) URLs, got 'ftp:\/\/b'/,
  );
  assert.throws(() => parseServerList(" , "), /names no control plane/);
});

Deno.test("config - config.json's server may be a list; it is written back as one", () =>
  withHome(async (home) => {
    await Deno.writeTextFile(
      `${home}/config.json`,
      JSON.stringify({ server: ["http://a:1", "http://b:2/"] }),
    );
    const cfg = await readNodeConfig(home);
    assert.equal(cfg.server, "http://a:1");
    assert.deepEqual(cfg.servers, ["http://a:1", "http://b:2"]);
    await writeNodeConfig(home, cfg);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${home}/config.json`)).server, [
      "http://a:1",
      "http://b:2",
    ]);

    // A command that sets one server (register --server) replaces the list.
    await writeNodeConfig(home, { ...cfg, server: "http://z:9" });
    assert.equal(JSON.parse(await Deno.readTextFile(`${home}/config.json`)).server, "http://z:9");

    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ server: "http://a:1,http://c:3" }));
    assert.deepEqual((await readNodeConfig(home)).servers, ["http://a:1", "http://c:3"]);

    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ server: "http://a:1" }));
    const one = await readNodeConfig(home);
    assert.equal(one.server, "http://a:1");
    assert.equal(one.servers, undefined);
    await writeNodeConfig(home, one);
    assert.equal(JSON.parse(await Deno.readTextFile(`${home}/config.json`)).server, "http://a:1");

    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ server: ["http://a:1", 7] }));
    await assert.rejects(readNodeConfig(home), /server must be an http\(s\) URL or a list of them/);
  }));

Deno.test("config - infernet start's servers: flags, else config, else INFERNET_SERVER", () => {
  const none = { server: null, nodeId: null, engineUrl: null, maxConcurrency: 8 };
  assert.deepEqual(resolveServers(["http://a:1", "http://b:2,http://c:3"], none, {}), [
    "http://a:1",
    "http://b:2",
    "http://c:3",
  ]);
  assert.deepEqual(
    resolveServers(undefined, { ...none, server: "http://a:1", servers: ["http://a:1", "http://b:2"] }, {}),
    ["http://a:1", "http://b:2"],
  );
  assert.deepEqual(resolveServers(undefined, { ...none, server: "http://a:1" }, {}), ["http://a:1"]);
  assert.deepEqual(resolveServers(undefined, none, { INFERNET_SERVER: "http://x:1,http://y:2" }), [
    "http://x:1",
    "http://y:2",
  ]);
  assert.throws(() => resolveServers(undefined, none, {}), /no control plane configured/);
});

Deno.test("config - relays: ws(s) URLs kept in order without repeats, written back; others refused", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-config-" });
  try {
    const relays = ["wss://relay.example", "ws://127.0.0.1:7447", "wss://relay.example"];
    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ relays }));
    const cfg = await readNodeConfig(home);
    deepStrictEqual(cfg.relays, ["wss://relay.example", "ws://127.0.0.1:7447"]);
    await writeNodeConfig(home, cfg);
    deepStrictEqual((await readNodeConfig(home)).relays, cfg.relays);
    for (const bad of [["https://relay.example"], "wss://relay.example", [42]]) {
      await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ relays: bad }));
      await rejects(readNodeConfig(home), /relays must be a list/);
    }
    throws(() => parseRelayFlag("http://relay.example"), /--relay must be a ws:\/\/ or wss:\/\/ URL/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
