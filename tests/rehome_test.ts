// A node given several control-plane instances re-homes: two real control-plane processes on one
// PostgreSQL, a real daemon started with both; kill -9 its instance and it registers with and
// connects to the other, which then serves a request through it. The time to re-home is printed
// (the target is 5 s; speed is not asserted in a test).
import assert from "node:assert/strict";
import { openDatabase } from "../db/mod.ts";
import { NANO_USD_PER_USD, sleep } from "../shared/mod.ts";
import { createTestKey } from "../testing/funding.ts";
import { cliCommand, runCli } from "../testing/run_cli.ts";
import { watchOutput } from "../testing/child_output.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { createPostgresDatabase, POSTGRES_TESTS_IGNORED } from "../testing/postgres_database.ts";
import { type ControlPlaneProcess, startControlPlaneProcess } from "../testing/control_plane_process.ts";

async function connectedTo(cp: ControlPlaneProcess, pubkey: string): Promise<boolean> {
  try {
    const res = await fetch(`${cp.url}/api/nodes/${pubkey}`, { signal: AbortSignal.timeout(1000) });
    const body = await res.json();
    return res.ok && body.connected === true;
  } catch {
    return false;
  }
}

async function waitConnected(
  cps: ControlPlaneProcess[],
  pubkey: string,
  timeoutMs: number,
  why: () => string,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const cp of cps) if (await connectedTo(cp, pubkey)) return cp;
    if (Date.now() > deadline) throw new Error(`node not connected within ${timeoutMs} ms:\n${why()}`);
    await sleep(25);
  }
}

for (
  const [signal, what] of [
    ["SIGKILL", "killed (kill -9: its sockets close)"],
    ["SIGSTOP", "frozen (SIGSTOP: its sockets stay open, silent)"],
  ] as const
) {
  Deno.test({
    name: `rehome - a node re-homes to another instance when its instance is ${what}`,
    ignore: POSTGRES_TESTS_IGNORED,
    async fn() {
      const pg = await createPostgresDatabase();
      const engine = await startTestEngine();
      const home = await Deno.makeTempDir({ prefix: "infernet-node-" });
      const cps: ControlPlaneProcess[] = [];
      let node: Deno.ChildProcess | null = null;
      try {
        cps.push(...await Promise.all([0, 1].map(() => startControlPlaneProcess({ DATABASE_URL: pg.url }))));
        const env = {
          INFERNET_HOME: home,
          INFERNET_LOG_LEVEL: Deno.env.get("INFERNET_TEST_LOG_LEVEL") ?? "warn",
        };
        const init = await runCli(["init", "--json"], env);
        assert.equal(init.code, 0, init.stderr);
        const { pubkey } = JSON.parse(init.stdout);
        node = cliCommand([
          "start",
          "--server",
          cps.map((cp) => cp.url).join(","),
          "--engine-url",
          engine.url,
          "--no-auto-upgrade",
        ], env).spawn();
        watchOutput(node.stdout);
        const stderr = watchOutput(node.stderr, { keepChars: 20_000 });
        const first = await waitConnected(cps, pubkey, 30_000, stderr.text);
        const other = cps.find((cp) => cp !== first)!;

        first.child.kill(signal);
        const killedAt = performance.now();
        await waitConnected([other], pubkey, 30_000, stderr.text);
        const rehomeMs = performance.now() - killedAt;
        console.log(
          `re-homed after ${signal} of its instance in ${rehomeMs.toFixed(0)} ms (target < 5000 ms)`,
        );
        if (signal === "SIGSTOP") first.child.kill("SIGKILL");

        // The surviving instance serves a request through the node.
        const db = await openDatabase({ url: pg.url, max: 1 });
        let key: string;
        try {
          key = (await createTestKey(db.sql, NANO_USD_PER_USD)).key;
        } finally {
          await db.close();
        }
        const res = await fetch(`${other.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: "infernet-test-echo",
            messages: [{ role: "user", content: "moved" }],
          }),
        });
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.equal(body.choices[0].message.content, "Echo: moved");
      } finally {
        if (node) {
          node.kill("SIGTERM");
          await node.status;
        }
        await Promise.all(cps.map((cp) => cp.stop()));
        await engine.close();
        await Deno.remove(home, { recursive: true }).catch(() => {});
        await pg.drop();
      }
    },
  });
}
