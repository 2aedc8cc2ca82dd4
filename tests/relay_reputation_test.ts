// Issue 29, "receipts are also published to relays": a control plane with INFERNET_RELAYS, a real
// relay, a real node daemon and jobs through the official SDK (successes and refusals); every
// receipt reaches the relay, and `infernet reputation <node> --relay URL --platform-key KEY`,
// reading the relay alone, prints the score the control plane computes from its database at the
// same time (|Δ| ≤ 1e-9).
import assert from "node:assert/strict";
import OpenAI from "openai";
import { verifyEvent } from "nostr-tools/pure";
import { PLATFORM_RECEIPT_KIND, sleep } from "../shared/mod.ts";
import { RelayPool } from "../shared/relay/mod.ts";
import { runCli, startNetwork } from "../testing/network.ts";
import { startTestRelay } from "../testing/relay_socket.ts";

Deno.test("relay reputation e2e - the score from the relay alone equals the control plane's", async () => {
  const relay = await startTestRelay();
  const net = await startNetwork({ config: { receiptWaitMs: 2000, relays: [relay.url] } });
  const pool = new RelayPool([relay.url], { verifyEvent });
  try {
    const node = net.nodes[0].pubkey;
    const platform = net.cp.platformKey.pubkey;
    const sdk = new OpenAI({ baseURL: `${net.url}/v1`, apiKey: net.apiKey, maxRetries: 0 });
    const ask = (content: string) =>
      sdk.chat.completions.create({ model: "infernet-test-echo", messages: [{ role: "user", content }] });
    for (let i = 0; i < 4; i++) await ask(`job ${i}`);
    // Two failures: the engine refuses, the node fails the job.
    net.engines[0].configure({ failure: "refuse" });
    for (let i = 0; i < 2; i++) await ask("refused").then(() => assert.fail("answered"), () => {});
    net.engines[0].configure({ failure: "none" });

    // Six platform receipts of the node on the relay (written, then mirrored in the background).
    const onRelay = () => pool.query([{ kinds: [PLATFORM_RECEIPT_KIND], authors: [platform], "#p": [node] }]);
    for (let i = 0; i < 200 && (await onRelay()).length < 6; i++) await sleep(50);
    assert.equal((await onRelay()).length, 6, JSON.stringify(net.cp.relayMirror?.stats()));
    await net.cp.relayMirror!.flush();
    const [stats] = net.cp.relayMirror!.stats();
    assert.equal(stats.dropped + stats.refused, 0, JSON.stringify(stats));

    const at = Math.floor(Date.now() / 1000);
    const time = { at, halfLifeS: net.cp.config.reputationHalfLifeS };
    const server = await net.cp.reputation.compute(node, time);
    const run = await runCli(
      ["reputation", node, "--relay", relay.url, "--platform-key", platform, "--at", String(at), "--json"],
      { INFERNET_HOME: net.nodes[0].home },
    );
    assert.equal(run.code, 0, run.stderr);
    const mine = JSON.parse(run.stdout);
    assert.equal(mine.receipts, 6);
    assert.equal(mine.skipped, 0);
    assert.ok(server.components.bad >= 1 && server.components.good >= 3, JSON.stringify(server.components));
    assert.ok(
      Math.abs(mine.score - server.score) <= 1e-9,
      `relay ${mine.score} vs control plane ${server.score}`,
    );
    assert.ok(Math.abs(mine.components.bad - server.components.bad) <= 1e-9);
  } finally {
    pool.close();
    await net.close();
    await relay.close();
  }
});

Deno.test("relay reputation e2e - bad flags are one-line usage errors", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-relay-rep-" });
  try {
    const node = "a".repeat(64);
    const cases: [string[], RegExp][] = [
      [["--relay", "ws://127.0.0.1:1"], /--relay needs --platform-key/],
      [["--relay", "http://x", "--platform-key", node], /--relay must be a ws:\/\/ or wss:\/\/ URL/],
      [
        ["--relay", "ws://127.0.0.1:1", "--platform-key", "nope"],
        /--platform-key must be an npub or hex key/,
      ],
      [["--platform-key", node], /go with --relay URL/],
      [["--relay", "ws://127.0.0.1:1", "--server", "http://127.0.0.1:1"], /exclude each other/],
      [["--relay", "ws://127.0.0.1:1", "--platform-key", node, "--at", "soon"], /--at must be an integer/],
    ];
    for (const [flags, message] of cases) {
      const run = await runCli(["reputation", node, ...flags], { INFERNET_HOME: home });
      assert.equal(run.code, 2, `${flags.join(" ")}: ${run.code} ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
