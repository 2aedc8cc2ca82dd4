// Several instances (issue 30): what a cross-instance dispatch adds over a same-instance one.
// Two control planes share one PostgreSQL database and one NATS server: A in this process, B in
// its own (testing/cluster_instance_main.ts), as instances run; node 0 is connected to A, node 1
// to B, each answering at once from a test engine in its instance's process.
// Requests go one at a time to A, alternating "same" (model m0, node on A) and "cross" (model m1,
// node on B, over NATS), so both see the same machine; the baseline is "same", in this run. Rows:
// "dispatch" (a job on the node's link to its answer, no HTTP), "non-stream" and "stream" (HTTP,
// whole answer; each of a stream's chunks crosses on its own), "stream first byte" (to its headers).
// Target: cross − same at p50 < 1 ms. Also shown: bare NATS round trips of 300 bytes there and
// back, between two connections in this process and to B's process (which echoes them): the
// latter is the floor of any cross-instance answer, two passes through the server and a wake-up of
// each process. On a shared 2-core VM the figures swing from run to run: every cross answer needs
// B's process and the NATS server to be scheduled.
// Throughput with 1, 2 and 3 instances: three more instances in processes of their own (T1..T3,
// each serving HTTP with a node of its own); `--consumers` consumers in this process send
// non-stream requests round robin over the n instances in use (as a load balancer would), for a
// model the nodes of those n instances serve, so each instance routes to any of them, its own or
// another's over NATS; `--seconds` per row, in 3 alternating rounds. The 1-instance row is the
// baseline. All instances, the consumers and NATS share this machine's cores, so the rows show
// what one machine holds, not how a deployment on several machines scales.
// Run: deno run --allow-all bench/cluster_bench.ts [--requests 400] [--consumers 8] [--seconds 3]
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { createTestEngineHandler } from "../testing/test_engine.ts";
import { attachClusterNode, NATS_AVAILABLE, NATS_URL, openTestCluster, until } from "../testing/cluster.ts";
import { watchOutput } from "../testing/child_output.ts";
import { POSTGRES_AVAILABLE, POSTGRES_URL } from "../testing/databases.ts";
import { percentile } from "./percentile.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "400" },
    consumers: { type: "string", default: "8" },
    seconds: { type: "string", default: "3" },
  },
}).values;
const REQUESTS = Number(flags.requests);
if (!(REQUESTS >= 10 && REQUESTS <= 10_000)) throw new Error("--requests must be 10 to 10000");
// At most 8: one node (test nodes take 8 jobs at once) must hold them all with one instance.
const CONSUMERS = Number(flags.consumers);
if (!(Number.isInteger(CONSUMERS) && CONSUMERS >= 1 && CONSUMERS <= 8)) {
  throw new Error("--consumers must be 1 to 8");
}
const SECONDS = Number(flags.seconds);
if (!(SECONDS >= 1 && SECONDS <= 60)) throw new Error("--seconds must be 1 to 60");

if (!NATS_AVAILABLE || !POSTGRES_AVAILABLE) {
  console.log(
    `cluster bench skipped: ${
      !NATS_AVAILABLE ? `NATS at ${NATS_URL}` : `PostgreSQL at ${POSTGRES_URL}`
    } did not answer`,
  );
  Deno.exit(0);
}

const cluster = await openTestCluster(1);

/** Another instance of the cluster in its own process, with a node for `model`; its joined line. */
async function spawnInstance(model: string, serve: boolean) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../testing/cluster_instance_main.ts", import.meta.url).pathname,
      "--database-url",
      cluster.databaseUrl,
      "--prefix",
      cluster.prefix,
      "--model",
      model,
      ...(serve ? ["--serve"] : []),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  instances.push(child);
  const joined: { url: string | null; apiKey: string; instance: string } = JSON.parse(
    await watchOutput(child.stdout).firstLine(30_000),
  );
  return joined;
}
const instances: Deno.ChildProcess[] = [];
try {
  const [a] = cluster.planes;
  const b = await spawnInstance("m1", false);
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

  // One message there and one back through the server: to a second connection in this process,
  // and to B's process (the floor of any cross-instance answer), alternating.
  const [ping, pong] = [await connect({ servers: NATS_URL }), await connect({ servers: NATS_URL })];
  const rtt: number[] = [];
  const rttB: number[] = [];
  try {
    pong.subscribe(`${cluster.prefix}.bench.ping`, {
      callback: (_e, msg) => pong.publish(`${cluster.prefix}.bench.pong`, msg.data),
    });
    let arrived: (() => void) | null = null;
    ping.subscribe(`${cluster.prefix}.bench.pong`, { callback: () => arrived?.() });
    await Promise.all([ping.flush(), pong.flush()]);
    const roundTrip = async (subject: string) => {
      const start = performance.now();
      await new Promise<void>((r) => {
        arrived = r;
        ping.publish(subject, new Uint8Array(300), { reply: `${cluster.prefix}.bench.pong` });
      });
      return performance.now() - start;
    };
    for (let i = 0; i < REQUESTS + 100; i++) {
      const here = await roundTrip(`${cluster.prefix}.bench.ping`);
      const there = await roundTrip(`${cluster.prefix}.echo.${b.instance}`);
      if (i >= 100) rtt.push(here), rttB.push(there);
    }
  } finally {
    await Promise.all([ping.close(), pong.close()]);
  }
  results["NATS round trip"] = rtt.sort((x, y) => x - y);
  results["NATS round trip to B"] = rttB.sort((x, y) => x - y);

  // Throughput with 1, 2 and 3 instances. T1, T2 and T3 join at once, T1's node serving d1, d2
  // and d3, T2's d2 and d3, T3's d3: a run with n instances sends dn round robin over T1..Tn, so
  // it routes among n instances' nodes while the others idle. The three alternate in rounds, so
  // each sees the same machine (other sessions' load swings within seconds here).
  const joined = [];
  for (const models of ["d1,d2,d3", "d2,d3", "d3"]) joined.push(await spawnInstance(models, true));
  await until(() => a.cp.registry.serving("d3").length === 3, 10_000, "A to see the 3 nodes for d3");
  const throughputKey = joined[0].apiKey;
  /** Consumers round robin over `urls` asking for `model`, for `ms` after a warm-up. */
  const throughput = async (urls: string[], model: string, ms: number) => {
    const body = JSON.stringify({
      model,
      max_tokens: 8,
      messages: [{ role: "user", content: "a few words" }],
    });
    const from = performance.now() + 300;
    const to = from + ms;
    const latencies: number[] = [];
    await Promise.all(Array.from({ length: CONSUMERS }, async (_, consumer) => {
      for (let i = consumer; performance.now() < to; i++) {
        const start = performance.now();
        const res = await fetch(`${urls[i % urls.length]}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${throughputKey}`, "content-type": "application/json" },
          body,
        });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`throughput ${model}: ${res.status} ${text}`);
        const end = performance.now();
        if (end >= from && end <= to) latencies.push(end - start);
      }
    }));
    return latencies;
  };
  const ROUNDS = 3;
  const measured = [1, 2, 3].map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < 3; k++) {
      const n = (round + k) % 3 + 1;
      const urls = joined.slice(0, n).map((j) => j.url!);
      measured[n - 1].push(...await throughput(urls, `d${n}`, (SECONDS * 1000) / ROUNDS));
    }
  }
  const throughputRows = measured.map((xs, i) =>
    [i + 1, { perSecond: xs.length / SECONDS, latencies: xs.sort((x, y) => x - y) }] as const
  );

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
  console.log(
    `throughput: ${CONSUMERS} consumers, non-stream requests round robin over the instances, ${SECONDS} s each ` +
      `(${navigator.hardwareConcurrency} cores shared by all)`,
  );
  console.log(`${"".padEnd(26)}${"req/s".padStart(8)}${"p50 ms".padStart(8)}${"p99 ms".padStart(8)}  vs 1`);
  const baseline = throughputRows[0][1].perSecond;
  for (const [n, { perSecond, latencies }] of throughputRows) {
    console.log(
      `${`${n} instance${n > 1 ? "s" : ""}`.padEnd(26)}${perSecond.toFixed(0).padStart(8)}${
        ms(percentile(latencies, 50))
      }${ms(percentile(latencies, 99))}  ${(perSecond / baseline).toFixed(2)}×`,
    );
  }
} finally {
  for (const child of instances) {
    await child.stdin.close();
    await child.status;
  }
  await cluster.close();
}
