// A SIGTERM that reaches `infernet start` (through its launcher, cli/infernet.sh) while the node is
// still starting is a clean stop too: exit 0, no job socket, no offers left on a relay.
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { OFFER_KIND } from "../shared/relay/mod.ts";
import { RawRelaySocket, startTestRelay } from "../testing/relay_socket.ts";
import { cliCommand, runCli } from "../testing/run_cli.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { startHeldRegistration } from "../testing/held_registration.ts";
import { within } from "../testing/within.ts";

Deno.test("start - a SIGTERM while the node registers ends in a clean stop", async () => {
  // A control plane whose registration answers only when the test lets it.
  const cp = startHeldRegistration();
  const relay = await startTestRelay();
  const engine = await startTestEngine();
  const home = await Deno.makeTempDir({ prefix: "infernet-start-signal-" });
  const env = { INFERNET_HOME: home, INFERNET_UPGRADE_REGISTRY: "http://127.0.0.1:9" };
  const watcher = await RawRelaySocket.open(relay.url);
  try {
    strictEqual((await runCli(["init"], env)).code, 0);
    await Deno.writeTextFile(
      `${home}/config.json`,
      JSON.stringify({ server: cp.url, engine_url: engine.url }),
    );
    const child = cliCommand(["start", "--no-auto-upgrade", "--relay", relay.url], env).spawn();
    const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    void child.stderr.pipeTo(new WritableStream()).catch(() => {});
    let printed = "";
    const reading = (async () => {
      for (;;) {
        const { value, done } = await out.read();
        if (done) return;
        printed += value;
      }
    })();
    await within(cp.registering, 60_000, "the registration");
    child.kill("SIGTERM");
    // The launcher has passed the signal on once the daemon prints that it drains.
    for (let i = 0; i < 400 && !printed.includes("draining"); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    cp.release();
    const status = await within(child.status, 30_000, "the daemon's exit");
    await reading;
    strictEqual(status.code, 0, `a clean stop, not a death by the signal; printed: ${printed}`);
    match(printed, /draining/);
    match(printed, /node stopped/);
    deepStrictEqual(cp.paths.filter((p) => p === "/api/nodes/ws"), [], "no job socket after the stop");
    deepStrictEqual(await watcher.query("offers", { kinds: [OFFER_KIND] }), [], "no offers published");
  } finally {
    watcher.close();
    await engine.close();
    await relay.close();
    await cp.close();
    await Deno.remove(home, { recursive: true });
  }
});
