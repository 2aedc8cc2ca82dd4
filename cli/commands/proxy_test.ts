// `infernet proxy` as a consumer runs it: `deno task infernet proxy …`, then the OpenAI SDK.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { cliCommand, runCli } from "../../testing/run_cli.ts";
import { watchOutput } from "../../testing/child_output.ts";
import { startDirectStandIn } from "../../testing/direct_stand_in.ts";

Deno.test("proxy command - serves the SDK on a local port and stops cleanly on SIGTERM", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-proxy-" });
  const s = startDirectStandIn([{ behaviour: "ok", direct: true }]);
  const child = cliCommand(["proxy", "--port", "0", "--server", s.url], { INFERNET_HOME: home }).spawn();
  const out = watchOutput(child.stdout);
  try {
    const [, port] = await out.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\/v1/, 30_000);
    const sdk = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "sk-test", maxRetries: 0 });
    const done = await sdk.chat.completions.create({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(done.choices[0].message.content, "Private answers travel sealed.");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    // The server given is remembered: the next `infernet proxy` needs no --server.
    const config = JSON.parse(await Deno.readTextFile(`${home}/config.json`));
    assert.equal(config.server, s.url);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.stderr.cancel();
    await out.done;
    await s.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("proxy command - a bad port or target is one usage line and exit 2", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-proxy-" });
  try {
    const run = await runCli(["proxy", "--port", "http", "--server", "http://127.0.0.1:9"], {
      INFERNET_HOME: home,
    });
    assert.equal(run.code, 2);
    assert.equal(run.stderr.trim(), "infernet: proxy: --port must be a port number (0 picks a free one)");
    const target = await runCli(["proxy", "--target", "nodes", "--server", "http://127.0.0.1:9"], {
      INFERNET_HOME: home,
    });
    assert.equal(target.code, 2);
    assert.equal(target.stderr.trim(), "infernet: proxy: --target must be node or model, not nodes");
    const key = await runCli(["proxy", "--relay", "ws://127.0.0.1:9", "--platform-key", "nope"], {
      INFERNET_HOME: home,
    });
    assert.equal(key.code, 2);
    assert.equal(key.stderr.trim(), "infernet: proxy: --platform-key must be an npub or hex key");
    const alone = await runCli(["proxy", "--platform-key", "a".repeat(64)], { INFERNET_HOME: home });
    assert.equal(alone.code, 2);
    assert.equal(
      alone.stderr.trim(),
      "infernet: proxy: --platform-key goes with --relay URL (jobs over relays)",
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("proxy command - a port in use is one line and exit 1", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-proxy-" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const run = await runCli(["proxy", "--port", port, "--server", "http://127.0.0.1:9"], {
      INFERNET_HOME: home,
    });
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trim(), `infernet: proxy: port ${port} is in use; pass --port N`);
  } finally {
    taken.close();
    await Deno.remove(home, { recursive: true });
  }
});
