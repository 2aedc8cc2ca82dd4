// Direct mode's relay across instances (issue 30 on issue 28's relay): a private chat through the
// relay, whole (route, sealed request, answer, ack), with the node's daemon on instance 1 and the
// consumer's calls sent, in alternating rounds:
//   same   — everything to instance 1 (the node's own; the baseline)
//   cross  — everything to instance 0 (the relay crosses to 1 over NATS; 0 owns the job)
//   split  — the route to 1, the relay and the ack to 0 (0 asks 1 for the terms and hands it the ack)
// Real PostgreSQL and NATS, a real daemon and test engine; every instance in this process.
// Run: deno run --allow-all bench/cluster_direct_bench.ts [rounds]
import { privateChat } from "../shared/direct/mod.ts";
import { openTestCluster, until } from "../testing/cluster.ts";
import { startNode, stopNode } from "../testing/network.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { percentile } from "./percentile.ts";

const ROUNDS = Number(Deno.args[0] ?? 100);
const keyDir = await Deno.makeTempDir({ prefix: "infernet-bench-key-" });
const c = await openTestCluster(2, { platformKeyFile: `${keyDir}/platform.key`, directAckWaitMs: 10_000 });
const engine = await startTestEngine({ models: ["m"] });
const node = await startNode({ cp: c.planes[1].cp, url: c.planes[1].server!.url }, engine.url);
try {
  await until(
    () => c.planes[0].cp.registry.get(node.pubkey)?.connection?.open === true,
    10_000,
    "A to see it",
  );
  const [u0, u1] = c.planes.map((p) => p.server!.url);
  const via = (routeTo: string, restTo: string): typeof fetch => (input, init) => {
    const u = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    return fetch((u.pathname === "/v1/route" ? routeTo : restTo) + u.pathname + u.search, init);
  };
  const modes = { same: via(u1, u1), cross: via(u0, u0), split: via(u1, u0) };
  const times: Record<string, number[]> = { same: [], cross: [], split: [] };
  const one = async (f: typeof fetch) => {
    const t0 = performance.now();
    let text = "";
    for await (
      const chunk of privateChat({
        server: "http://cluster.test",
        apiKey: c.planes[0].apiKey,
        fetch: f,
        relayOnly: true,
        body: { model: "m", messages: [{ role: "user", content: "one two three four" }], stream: true },
        onAckError: (err) => {
          throw err;
        },
      }) as AsyncIterable<{ choices: { delta?: { content?: string } }[] }>
    ) text += chunk.choices[0]?.delta?.content ?? "";
    if (text !== "Echo: one two three four") throw new Error(`unexpected answer: ${text}`);
    return performance.now() - t0;
  };
  for (let i = 0; i < 10; i++) for (const f of Object.values(modes)) await one(f); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, f] of Object.entries(modes)) times[name].push(await one(f));
  }
  console.log(`${ROUNDS} relayed private chats per mode, alternating; ms (route to ack)`);
  const base = [...times.same].sort((a, b) => a - b);
  for (const [name, list] of Object.entries(times)) {
    const s = [...list].sort((a, b) => a - b);
    const p50 = percentile(s, 50);
    console.log(
      `${name.padEnd(6)} p50 ${p50.toFixed(2)}  p99 ${percentile(s, 99).toFixed(2)}  added p50 ${
        (p50 - percentile(base, 50)).toFixed(2)
      }`,
    );
  }
} finally {
  await stopNode(node);
  await engine.close();
  await c.close();
  await Deno.remove(keyDir, { recursive: true });
}
