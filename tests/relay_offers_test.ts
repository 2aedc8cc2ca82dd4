// `infernet start --relay A --relay B` as an operator runs it: the daemon's offers reach a
// subscriber on each relay; a drained stop deletes them; a killed daemon's offers expire.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { verifyEvent } from "nostr-tools/pure";
import { OFFER_KIND, readOffer } from "../shared/relay/mod.ts";
import { MemoryEventRepository } from "../shared/relay/memory_repository.ts";
import { readDaemonPid } from "../cli/daemon/pid_file.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { RawRelaySocket, startTestRelay } from "../testing/relay_socket.ts";
import { cliCommand, runCli } from "../testing/run_cli.ts";
import { startTestEngine } from "../testing/test_engine.ts";

Deno.test("relay offers - offers reach both relays, are deleted on stop and expire after a kill", async () => {
  let clock = Math.floor(Date.now() / 1000);
  const repos = [
    new MemoryEventRepository({ nowS: () => clock }),
    new MemoryEventRepository({ nowS: () => clock }),
  ];
  const relays = [
    await startTestRelay({ repository: repos[0] }),
    await startTestRelay({ repository: repos[1] }),
  ];
  const t = await openTestControlPlane({ serve: true });
  const engine = await startTestEngine();
  const home = await Deno.makeTempDir({ prefix: "infernet-relay-" });
  const env = { INFERNET_HOME: home, INFERNET_UPGRADE_REGISTRY: "http://127.0.0.1:9" };
  const watchers: RawRelaySocket[] = [];
  const start = () => {
    const child = cliCommand(
      [
        "start",
        "--no-auto-upgrade",
        "--heartbeat-ms",
        "1000",
        "--relay",
        relays[0].url,
        "--relay",
        relays[1].url,
      ],
      env,
    ).spawn();
    // Drained, not cancelled: a daemon that prints into a closed pipe on its way out dies of SIGPIPE
    // (exit 141), which is not the clean stop this test is about.
    void child.stdout.pipeTo(new WritableStream()).catch(() => {});
    void child.stderr.pipeTo(new WritableStream()).catch(() => {});
    return child;
  };
  try {
    const server = `http://127.0.0.1:${t.server!.port}`;
    strictEqual((await runCli(["init"], env)).code, 0);
    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ server, engine_url: engine.url }));
    for (const r of relays) {
      const w = await RawRelaySocket.open(r.url);
      await w.query("offers", { kinds: [OFFER_KIND] });
      watchers.push(w);
    }
    const first = start();
    for (const w of watchers) {
      const [, , event] = await w.next((m) => m[0] === "EVENT" && m[1] === "offers", "an offer", 0, 60_000);
      const check = readOffer(event, { verifyEvent });
      ok(check.ok, JSON.stringify(check));
      strictEqual(check.offer.receiptsUrl, `${server}/api/receipts?node=${check.offer.pubkey}`);
    }
    first.kill("SIGTERM");
    strictEqual((await first.status).code, 0, "a drained stop exits cleanly");
    for (const w of watchers) deepStrictEqual(await w.query("after-stop", { kinds: [OFFER_KIND] }), []);

    const seenBefore = watchers.map((w) => w.messages.length);
    const second = start();
    for (const [i, w] of watchers.entries()) {
      await w.next((m) => m[0] === "EVENT" && m[1] === "offers", "a new offer", seenBefore[i], 60_000);
    }
    // The daemon itself, not its launcher (cli/infernet.sh), dies without a word.
    const pid = (await readDaemonPid(home))?.pid;
    ok(pid, "the daemon's pid file");
    Deno.kill(pid, "SIGKILL");
    await second.status;
    for (const w of watchers) ok((await w.query("after-kill", { kinds: [OFFER_KIND] })).length > 0);
    clock = Math.floor(Date.now() / 1000) + 31; // offers live three heartbeats, at least 30 s
    for (const w of watchers) deepStrictEqual(await w.query("expired", { kinds: [OFFER_KIND] }), []);
  } finally {
    for (const w of watchers) w.close();
    await engine.close();
    await t.close();
    await Promise.all(relays.map((r) => r.close()));
    await Deno.remove(home, { recursive: true });
  }
});
