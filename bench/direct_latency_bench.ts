// Direct mode's latency and CPU (issue 28), open loop at a fixed rate (200 req/s by default), one run:
//   engine alone      — POST the test engine's /v1/chat/completions;
//   hop alone         — the same through a bare Deno server that passes it on to the engine
//                       (bench/minimal_path.ts hop, its own process): direct mode's floor, the
//                       extra hop with no ticket, keys or frames;
//   direct            — seal (NIP-44) + POST the daemon's /direct + open: what direct mode adds
//                       over the engine (target p50 < 0.4 ms, p99 < 2 ms), tickets routed beforehand;
//   gateway           — POST the control plane's /v1/chat/completions (today's path);
//   relayed           — seal + POST the control plane's /v1/relay (socket to the same daemon) + open;
//   private, whole    — privateChat: route, direct call, open, usage ack (what `infernet proxy` does);
//   relayed, whole    — the same through the relay (`infernet proxy --relay-only`).
// Every party is its own process, as in production: the test engine (`deno task test-engine`), the
// control plane on its embedded PGlite (`deno task start`), the daemon (`deno task infernet start
// --direct-port`), the hop, and this one, the consumer. CPU per request of each: the daemon's (its
// process tree; the hop's in "hop alone"), the control plane's, the engine's, and the consumer's.
// The consumer and the daemon use the fastest secp256k1 and NIP-44 backends they can load (native
// libsecp256k1 and libsodium need --allow-ffi; INFERNET_LIBSODIUM=/none in the environment, which
// the children inherit, keeps both sides on nostr-tools' nip44 for an A/B). On a shared 2-core VM
// the figures swing from run to run.
// Run: deno run --allow-all bench/direct_latency_bench.ts [--rate 200] [--seconds 4] [--direct-only]
import { parseArgs } from "node:util";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import {
  conversationKey,
  countTextTokens,
  createUsageAck,
  fastestNip44,
  FrameOpener,
  FrameSealer,
  privateChat,
} from "../shared/direct/mod.ts";
import { denoCommand, denoTaskCommand, type WatchedOutput, watchOutput } from "../testing/child_output.ts";
import { responseLines } from "../shared/direct/ndjson.ts";
import { artifactHash, fastestSecp256k1, sleep } from "../shared/mod.ts";
import { percentile } from "./percentile.ts";
import { perRequest, processTree, readProcStats } from "./proc_stats.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "4" },
    // Only the phases up to direct (engine, hop, direct): for profiles and A/B runs of direct mode.
    "direct-only": { type: "boolean", default: false },
  },
}).values;
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
if (!(RATE > 0 && RATE <= 2000 && SECONDS > 0 && SECONDS <= 60)) throw new Error("bad --rate or --seconds");
const TOTAL = Math.round(RATE * SECONDS);
const MODEL = "infernet-test-echo";
const messages = [{ role: "user", content: "benchmark prompt of a few words" }];
const chatBody = JSON.stringify({ model: MODEL, messages, max_tokens: 16 });
const secp = await fastestSecp256k1();
const cipher = fastestNip44();

/**
 * A phase's latencies (ms) and CPU per request (ms): the node daemon's (or the hop's), the control
 * plane's, the engine's, and this process's (the consumer's).
 */
interface PhaseResult {
  p50: number;
  p99: number;
  errors: number;
  cpu: { node: number; cp: number; engine: number; here: number };
}

/** Sends at RATE for SECONDS (open loop); latencies in ms, and what the processes spent. */
async function load(send: (i: number) => Promise<void>, nodePid: number): Promise<PhaseResult> {
  const trees = {
    node: processTree(nodePid),
    cp: processTree(cpProc.child.pid),
    engine: processTree(engineProc.child.pid),
    here: [Deno.pid],
  };
  const before = Object.fromEntries(Object.entries(trees).map(([k, pids]) => [k, readProcStats(pids)]));
  const latencies: number[] = [];
  let errors = 0;
  let firstError = "";
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < TOTAL; i++) {
    const wait = t0 + i * (1000 / RATE) - performance.now();
    if (wait > 1) await sleep(wait);
    const start = performance.now();
    inflight.push(
      send(i).then(() => void latencies.push(performance.now() - start), (err) => {
        errors++;
        firstError ||= String(err);
      }),
    );
  }
  await Promise.all(inflight);
  const cpu = Object.fromEntries(
    Object.entries(trees).map(([k, pids]) => [k, perRequest(before[k], readProcStats(pids), TOTAL).cpuMs]),
  ) as PhaseResult["cpu"];
  if (firstError) console.error(`direct: first error: ${firstError}`);
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    cpu,
  };
}

async function ok(res: Response): Promise<void> {
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

const dataDir = await Deno.makeTempDir({ prefix: "infernet-direct-bench-" });
/** The children, stopped (SIGTERM, then waited for) at the end. */
const children: Deno.ChildProcess[] = [];
/** A child whose output drains in the background; resolves with it and its output. */
function spawn(cmd: Deno.Command): { child: Deno.ChildProcess; out: WatchedOutput } {
  const child = cmd.spawn();
  children.push(child);
  return { child, out: watchOutput(child.stdout, { keepChars: 100_000 }) };
}
const QUIET = { INFERNET_LOG_LEVEL: "warn" };
const urlIn = async (out: WatchedOutput) =>
  JSON.parse((await out.waitFor(/^\{.*"url".*\}$/m, 60_000))[0]).url as string;

// As in production, each party is its own process: the engine, the control plane (on its embedded
// PGlite), the node daemon, and this one, the consumer. A control plane in the consumer's process
// would settle each job's receipt on the consumer's event loop while it times the next answer.
const engineProc = spawn(denoTaskCommand(["test-engine", "--port", "0"], { env: QUIET }));
const engineUrl = await urlIn(engineProc.out);
const cpProc = spawn(denoTaskCommand(["start", "--port", "0", "--no-local-node"], {
  env: {
    ...QUIET,
    INFERNET_DATA_DIR: `${dataDir}/cp`,
    INFERNET_KEY_RATE_LIMIT: "0",
    // Test money from the fake processor, enough for every hold of the run (a phase's tickets are
    // routed, and their worst cost held, before it starts).
    INFERNET_DEV_CREDIT_USD: "10000",
  },
}));
const url = (await cpProc.out.waitFor(/^OpenAI base URL: (\S+)\/v1/m, 60_000))[1];
const apiKey = (await cpProc.out.waitFor(/^API key \(new, shown once[^)]*\): (\S+)/m, 60_000))[1];
const port = (() => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
})();
const nodeHome = `${dataDir}/node`;
await denoTaskCommand(["infernet", "init"], { env: { INFERNET_HOME: nodeHome }, stdout: "null" }).output();
const nodeProc = spawn(denoTaskCommand([
  "infernet",
  "start",
  "--server",
  url,
  "--engine-url",
  engineUrl,
  "--max-concurrency",
  "256",
  "--direct-port",
  String(port),
  "--direct-url",
  `http://127.0.0.1:${port}`,
], { env: { ...QUIET, INFERNET_HOME: nodeHome } }));
await nodeProc.out.waitFor(/online at/, 60_000);
// "online" is printed once registered; jobs route once its job socket is up too.
for (let i = 0;; i++) {
  const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } });
  if ((await res.text()).includes(MODEL)) break;
  if (i === 200) throw new Error("the node's model never showed at /v1/models");
  await sleep(50);
}
// The floor: a bare Deno server in front of the engine, its own process as the daemon is.
const hop = spawn(denoCommand([
  "run",
  "--allow-net",
  "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE",
  new URL("./minimal_path.ts", import.meta.url).pathname,
  "hop",
  engineUrl,
]));
const hopUrl = await urlIn(hop.out);
const auth = { authorization: `Bearer ${apiKey}`, "content-type": "application/json" };

interface Routed {
  jobId: string;
  node: string;
  sk: Uint8Array;
  key: Uint8Array;
  header: string;
  relay: string;
}

/** Routes `n` jobs ahead of a timed phase (tickets are single use), 8 at a time. */
async function routeMany(n: number): Promise<Routed[]> {
  const out: Routed[] = [];
  for (let i = 0; i < n; i += 8) {
    out.push(
      ...await Promise.all(Array.from({ length: Math.min(8, n - i) }, async () => {
        const sk = generateSecretKey();
        const consumer = getPublicKey(sk);
        const res = await fetch(`${url}/v1/route`, {
          method: "POST",
          headers: auth,
          body: JSON.stringify({ model: MODEL, max_tokens: 16, prompt_tokens: 16, consumer }),
        });
        if (!res.ok) throw new Error(`route: HTTP ${res.status} ${await res.text()}`);
        const r = await res.json();
        const c = r.candidates[0];
        return {
          jobId: r.job_id,
          node: c.node,
          sk,
          key: conversationKey(sk, c.node, { secp, cipher }),
          header: JSON.stringify({ ticket: c.ticket, consumer, fold_end: true }),
          relay: `${url}${c.relay}`,
        };
      })),
    );
  }
  return out;
}

/**
 * The answers of a sealed phase, acknowledged after it (untimed: the control plane runs in this
 * process), so its jobs settle and their holds come back as a consumer's would.
 */
const answered: Array<[Routed, string]> = [];

async function postAcks(): Promise<void> {
  const batch = answered.splice(0);
  for (let i = 0; i < batch.length; i += 8) {
    await Promise.all(
      batch.slice(i, i + 8).map(([r, text]) =>
        fetch(`${url}/v1/route/${r.jobId}/usage`, {
          method: "POST",
          headers: auth,
          body: JSON.stringify(createUsageAck(r.sk, {
            job_id: r.jobId,
            node: r.node,
            prompt_tokens: 16,
            completion_tokens: countTextTokens(text),
            artifact_hash: artifactHash([text]),
            created_at: Math.floor(Date.now() / 1000),
          }, { secp })),
        }).then(ok)
      ),
    );
  }
}

/** Whether the node folds an answer's end into its last frame: then it opens requests folded too. */
let nodeFolds = false;

/**
 * One sealed call: the request's frames out, the answer's frames opened; the answer's text. As
 * privateChat does, the request is folded (its end in its frame) once the node was seen to fold.
 */
async function sealedCall(target: string, r: Routed, headers: Record<string, string>): Promise<string> {
  const sealer = new FrameSealer(r.key, r.jobId, "c2n", { cipher });
  const frames = nodeFolds
    ? sealer.message(chatBody, { end: true })
    : [...sealer.message(chatBody), sealer.end()];
  const res = await fetch(target, { method: "POST", headers, body: [r.header, ...frames].join("\n") + "\n" });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const opener = new FrameOpener(r.key, r.jobId, "n2c", { cipher });
  let text = "";
  for await (const line of responseLines(res)) {
    const o = opener.open(line);
    if (o.type === "error") throw new Error(`${o.code}: ${o.message}`);
    if (o.type === "message") text += JSON.parse(o.text).choices?.[0]?.message?.content ?? "";
    if (o.type === "message" && o.end) nodeFolds = true;
    if (opener.ended) return text;
  }
  throw new Error("the answer ended early");
}

const fmt = (x: number) => x.toFixed(2).padStart(7);
const results: Record<string, PhaseResult> = {};
async function phase(name: string, send: (i: number) => Promise<void>, nodePid = nodeProc.child.pid) {
  for (let i = 0; i < 20; i++) await send(-1 - i).catch(() => {}); // warm up, untimed
  const r = await load(send, nodePid);
  results[name] = r;
  console.log(
    `direct: ${name.padEnd(16)} p50 ${fmt(r.p50)} ms  p99 ${fmt(r.p99)} ms  CPU/req ms: node ${
      fmt(r.cpu.node)
    } cp ${fmt(r.cpu.cp)} engine ${fmt(r.cpu.engine)} consumer ${fmt(r.cpu.here)}  errors ${r.errors}`,
  );
}

try {
  console.log(
    `direct: ${RATE} req/s for ${SECONDS} s per phase (${TOTAL} requests), non-streamed, ` +
      `secp256k1 ${secp.name}, nip44 ${cipher.name} here; ` +
      `load average ${
        Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
      } on ${navigator.hardwareConcurrency} cores`,
  );
  await phase("engine alone", () =>
    fetch(`${engineUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chatBody,
    }).then(ok));
  await phase("hop alone", () =>
    fetch(`${hopUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chatBody,
    }).then(ok), hop.child.pid);
  let routed = await routeMany(TOTAL + 20);
  const pick = (i: number) => routed[i < 0 ? TOTAL - 1 - i : i];
  await phase(
    "direct",
    async (i) =>
      void answered.push([pick(i), await sealedCall(`http://127.0.0.1:${port}/direct`, pick(i), {})]),
  );
  await postAcks();
  if (!flags["direct-only"]) {
    await phase(
      "gateway",
      () => fetch(`${url}/v1/chat/completions`, { method: "POST", headers: auth, body: chatBody }).then(ok),
    );
    routed = await routeMany(TOTAL + 20);
    await phase(
      "relayed",
      async (i) => void answered.push([pick(i), await sealedCall(pick(i).relay, pick(i), auth)]),
    );
    await postAcks();
    for (const relayOnly of [false, true]) {
      await phase(relayOnly ? "relayed, whole" : "private, whole", async () => {
        const body = { model: MODEL, messages, max_tokens: 16 };
        for await (const _ of privateChat({ server: url, apiKey, body, relayOnly, secp, cipher }));
      });
    }
  }
  const d = (a: string, b: string, p: "p50" | "p99") => results[a][p] - results[b][p];
  console.log(
    `direct: added by direct mode over the engine: p50 ${fmt(d("direct", "engine alone", "p50"))} ms, ` +
      `p99 ${fmt(d("direct", "engine alone", "p99"))} ms (targets 0.4 / 2)`,
  );
  console.log(
    `direct: added by the hop alone (the floor): p50 ${fmt(d("hop alone", "engine alone", "p50"))} ms, ` +
      `p99 ${fmt(d("hop alone", "engine alone", "p99"))} ms; direct over its floor: p50 ${
        fmt(d("direct", "hop alone", "p50"))
      } ms, p99 ${fmt(d("direct", "hop alone", "p99"))} ms`,
  );
  if (results.relayed) {
    console.log(
      `direct: relayed minus gateway: p50 ${fmt(d("relayed", "gateway", "p50"))} ms, ` +
        `p99 ${fmt(d("relayed", "gateway", "p99"))} ms (target ≤ 0)`,
    );
  }
} finally {
  // The daemon first (it drains and deletes what it published), then the rest.
  for (const child of children.reverse()) {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await child.status;
  }
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}
