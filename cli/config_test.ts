import { deepStrictEqual, rejects, throws } from "node:assert/strict";
import { parseRelayFlag, readNodeConfig, writeNodeConfig } from "./config.ts";

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
