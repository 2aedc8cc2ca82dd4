// Several instances (issue 30): what a cross-instance dispatch adds over a same-instance one.
// Two control planes share one PostgreSQL database and one NATS server: A in this process, B in
// its own (testing/cluster_instance_main.ts), as instances run; node 0 is connected to A, node 1
// to B, each answering at once from a test engine in its instance's process.
// Requests go one at a time to A, alternating "same" (model m0, node on A) and "cross" (model m1,
// node on B, over NATS), so both see the same machine; the baseline is "same", in this run. Rows:
// "dispatch" (a job on the node's link to its answer, no HTTP), "non-stream" and "stream" (HTTP,
// whole answer; each of a stream's chunks crosses on its own), "stream first byte" (to its headers).
// Target: cross − same at p50 < 1 ms. Also shown: a bare NATS round trip (two connections in this
// process, 300 bytes there and back), the floor of any cross-instance answer. On a shared 2-core
// VM the figures swing from run to run: every cross answer needs B's process to be scheduled.
// Run: deno run --allow-all bench/cluster_bench.ts [--requests 400]
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { createTestEngineHandler } from "../testing/test_engine.ts";
import { attachClusterNode, NATS_AVAILABLE, NATS_URL, openTestCluster, until } from "../testing/cluster.ts";
import { watchOutput } from "../testing/child_output.ts";
import { POSTGRES_AVAILABLE, POSTGRES_URL } from "../testing/databases.ts";
import { percentile } from "./percentile.ts";

const flags =
  parseArgs({ args: Deno.args, options: { requests: { type: "string", default: "400" } } }).values;
const REQUESTS = Number(flags.requests);
if (!(REQUESTS >= 10 && REQUESTS <= 10_000)) throw new Error("--requests must be 10 to 10000");

if (!NATS_AVAILABLE || !POSTGRES_AVAILABLE) {
  console.log(
    `cluster bench skipped: ${
      !NATS_AVAILABLE ? `NATS at ${NATS_URL}` : `PostgreSQL at ${POSTGRES_URL}`
    } did not answer`,
  );
  Deno.exit(0);
}

const cluster = await openTestCluster(1);
const instanceB = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-all",
    new URL("../testing/cluster_instance_main.ts", import.meta.url).pathname,
    "--database-url",
    cluster.databaseUrl,
    "--prefix",
    cluster.prefix,
    "--model",
    "m1",
  ],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
try {
  const [a] = cluster.planes;
  await watchOutput(instanceB.stdout).firstLine(30_000);
  await attachClusterNode(a.cp, createTestEngineHandler({ models: ["m0"] }).handler, {
    nodeId: "node0",
    models: [{ id: "m0", contextLength: 4096, promptPricePer1k: 1000, completionPricePer1k: 1000 }],
  });
  await until(() => a.cp.registry.serving("m1")[0]?.connection?.open === true, 10_000, "A to see B's node");

  const url = `${a.server!.url}/v1/chat/completions`;
  const headers = { authorization: `Bearer ${a.apiKey}`, "content-type": "application/json" };
  /** A request over HTTP; `firstByte`: timed to its headers (a stream's go out with its first chunk). */
  const request = async (model: string, stream: boolean, firstByte = false) => {
    const start = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({
        model,
        stream,
        max_tokens: 8,
        messages: [{ role: "user", content: "a few words" }],
      }),
    });
    const headersAt = performance.now();
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${model}: ${res.status} ${text}`);
    return (firstByte ? headersAt : performance.now()) - start;
  };
  /** The dispatch alone: a job on the node's link (a socket here, or B over NATS) to its answer. */
  const dispatch = async (model: string) => {
    const link = a.cp.registry.serving(model)[0].connection!;
    const start = performance.now();
    const first = await link.startJob(crypto.randomUUID(), "chat", false, {
      model,
      max_tokens: 8,
      messages: [{ role: "user", content: "a few words" }],
    }).next(10_000);
    if (typeof first === "symbol" || first.type !== "response") throw new Error(`${model}: no answer`);
    return performance.now() - start;
  };

  const results: Record<string, number[]> = {};
  const rows: [string, (model: string) => Promise<number>][] = [
    ["dispatch", dispatch],
    ["non-stream", (m) => request(m, false)],
    ["stream", (m) => request(m, true)],
    ["stream first byte", (m) => request(m, true, true)],
  ];
  for (const [kind, send] of rows) {
    const same: number[] = [];
    const cross: number[] = [];
    for (let i = 0; i < 100; i++) await send("m0"), await send("m1");
    for (let i = 0; i < REQUESTS; i++) {
      // Alternating which goes first, so neither always follows the other.
      if (i % 2) same.push(await send("m0")), cross.push(await send("m1"));
      else cross.push(await send("m1")), same.push(await send("m0"));
    }
    results[`${kind} same`] = same.sort((x, y) => x - y);
    results[`${kind} cross`] = cross.sort((x, y) => x - y);
  }

  // The floor of any cross-instance answer: one message there and one back through the server.
  const [ping, pong] = [await connect({ servers: NATS_URL }), await connect({ servers: NATS_URL })];
  const rtt: number[] = [];
  try {
    pong.subscribe(`${cluster.prefix}.bench.ping`, {
      callback: (_e, msg) => pong.publish(`${cluster.prefix}.bench.pong`, msg.data),
    });
    let arrived: (() => void) | null = null;
    ping.subscribe(`${cluster.prefix}.bench.pong`, { callback: () => arrived?.() });
    await Promise.all([ping.flush(), pong.flush()]);
    for (let i = 0; i < REQUESTS + 100; i++) {
      const start = performance.now();
      await new Promise<void>((r) => {
        arrived = r;
        ping.publish(`${cluster.prefix}.bench.ping`, new Uint8Array(300));
      });
      if (i >= 100) rtt.push(performance.now() - start);
    }
  } finally {
    await Promise.all([ping.close(), pong.close()]);
  }
  results["NATS round trip"] = rtt.sort((x, y) => x - y);

  const ms = (x: number) => x.toFixed(3).padStart(8);
  console.log(
    `cluster bench: ${REQUESTS} requests per row, one at a time, to instance A (whole answer)`,
  );
  console.log(`${"".padEnd(26)}${"p50 ms".padStart(8)}${"p99 ms".padStart(8)}`);
  for (const [name, xs] of Object.entries(results)) {
    console.log(`${name.padEnd(26)}${ms(percentile(xs, 50))}${ms(percentile(xs, 99))}`);
  }
  for (const [kind] of rows) {
    const same = results[`${kind} same`];
    const cross = results[`${kind} cross`];
    const p50 = percentile(cross, 50) - percentile(same, 50);
    const p99 = percentile(cross, 99) - percentile(same, 99);
    console.log(
      `${`${kind} added`.padEnd(26)}${ms(p50)}${ms(p99)}   (target p50 < 1 ms: ${
        p50 < 1 ? "met" : "NOT met"
      })`,
    );
  }
} finally {
  await instanceB.stdin.close();
  await instanceB.status;
  await cluster.close();
}
