// The per-request cost of the metrics (web/metrics/), same run, A/B alternating in one process:
// the same control plane served by two apps, one with its metrics and one whose metrics are a stub
// that does nothing (requests not counted, jobs not observed). Three measures:
//   1. `/v1/chat/completions` through `app.request` to an in-process node (PGlite settlement and
//      journal included): the whole per-request cost, where the metrics' share is small;
//   2. `GET /health`: the request counting alone (route label and tally) on the cheapest route;
//   3. the observations of one job (count, Server-Timing split, row) in a tight loop.
// Run: deno run --allow-all bench/metrics_bench.ts [/v1 requests a round] [/health a round] [rounds]
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createLogger, createNodeRecord, verifyNodeRecord } from "../shared/mod.ts";
import type { JobRow } from "../db/mod.ts";
import { createApp } from "../web/app.ts";
import type { ControlPlane } from "../web/control_plane.ts";
import { NodeConnection } from "../web/dispatch/node_connection.ts";
import { Metrics } from "../web/metrics/metrics.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { sampleAdvert } from "../testing/node_advert.ts";

const [v1PerRound, healthPerRound, rounds] = [
  Number(Deno.args[0] ?? 5_000),
  Number(Deno.args[1] ?? 50_000),
  Number(Deno.args[2] ?? 4),
];

const answer = JSON.stringify({
  id: "c",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 },
});

const t = await openTestControlPlane();
const sk = generateSecretKey();
const record = verifyNodeRecord(createNodeRecord(sk, sampleAdvert({ maxConcurrency: 1000 })));
if (!record.ok) throw new Error("bad node record");
await t.cp.registry.register(record.record);
const conn: NodeConnection = new NodeConnection(getPublicKey(sk), {
  send(text) {
    const frame = JSON.parse(text);
    if (frame.type === "job") {
      queueMicrotask(() =>
        conn.handleFrame({ type: "response", job_id: frame.job_id, status: 200, body: answer })
      );
    }
  },
  close() {},
}, createLogger({ level: "silent" }));
t.cp.registry.attach(getPublicKey(sk), conn);

// The stub keeps the app's shape: its middleware still awaits, it counts nothing.
const stub = new Metrics();
stub.countResponse = () => {};
const off: ControlPlane = { ...t.cp, metrics: stub, runDeps: { ...t.cp.runDeps, metrics: undefined } };
const apps = { on: createApp(t.cp), off: createApp(off) };

const chatInit = {
  method: "POST",
  headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
  body: JSON.stringify({ model: "m", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
};

/** Sends `n` requests, alternating between the two apps one request at a time (so a drift of the
 * machine's speed falls on both alike), and keeps each request's time (µs) by app. */
async function alternate(
  n: number,
  send: (app: ReturnType<typeof createApp>) => Promise<void>,
  into: { on: number[]; off: number[] },
): Promise<void> {
  for (let i = 0; i < n; i++) {
    const which = i % 2 === 0 ? "on" : "off";
    const start = performance.now();
    await send(apps[which]);
    into[which].push((performance.now() - start) * 1000);
  }
}

async function chatOnce(app: ReturnType<typeof createApp>): Promise<void> {
  const res = await app.request("http://control.test/v1/chat/completions", chatInit);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

async function healthOnce(app: ReturnType<typeof createApp>): Promise<void> {
  await (await app.request("http://control.test/health")).arrayBuffer();
}

function observeRound(metrics: Metrics | null, n: number): number {
  const row = {
    kind: "chat",
    stream: false,
    status: "completed",
    latencyMs: 3,
    ttftMs: 2,
    promptTokens: 11,
    completionTokens: 5,
  } as JobRow;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (!metrics) continue;
    metrics.countRequest("/v1/chat/completions", "POST", 200);
    metrics.observeTiming("chat", false, 0.35, 1.2);
    metrics.observeJob(row);
  }
  return (performance.now() - start) / n * 1e6;
}

const quantile = (xs: number[], q: number) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length * q)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const v1 = { on: [] as number[], off: [] as number[] };
const health = { on: [] as number[], off: [] as number[] };
const observe = { on: [] as number[], off: [] as number[] };
// Warm both before measuring.
await alternate(1_000, chatOnce, { on: [], off: [] });
await alternate(10_000, healthOnce, { on: [], off: [] });
const metrics = new Metrics();
for (let r = 0; r < rounds; r++) {
  await alternate(v1PerRound, chatOnce, v1);
  await t.cp.recorder.flush();
  await alternate(healthPerRound, healthOnce, health);
  for (const which of r % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
    observe[which].push(observeRound(which === "on" ? metrics : null, 1_000_000));
  }
}
await t.close();

console.log(
  `${rounds} rounds of ${v1PerRound} /v1 and ${healthPerRound} /health requests, alternating app each request`,
);
for (
  const [name, { on, off }] of Object.entries({ "/v1 chat completion, µs": v1, "GET /health, µs": health })
) {
  console.log(`${name} (${on.length} each):`);
  for (const [label, xs] of [["metrics on ", on], ["metrics off", off]] as const) {
    console.log(
      `  ${label}: p50 ${quantile(xs, 0.5).toFixed(2)}  p90 ${quantile(xs, 0.9).toFixed(2)}  mean ${
        mean(xs).toFixed(2)
      }`,
    );
  }
  console.log(`  p50 on − off: ${(quantile(on, 0.5) - quantile(off, 0.5)).toFixed(2)}`);
}
console.log("one job's observations (count, Server-Timing split, row), ns a job, by round:");
console.log(`  metrics on : ${observe.on.map((x) => x.toFixed(0)).join(" ")}`);
console.log(`  metrics off: ${observe.off.map((x) => x.toFixed(1)).join(" ")}`);
