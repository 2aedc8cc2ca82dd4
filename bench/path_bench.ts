// `deno task bench`: the latency the network adds. The same open-loop load (a fixed request rate,
// not "as fast as possible") goes to the engine directly and through the whole path — control
// plane process → `infernet` daemon process → engine process — in the same run, on this machine.
// The full path runs twice: with the control plane on PGlite (the embedded default) and, when
// PostgreSQL answers, on a fresh database there, as a production control plane runs.
// Prints p50/p99 of both and the difference; targets: p50 added < 1 ms, p99 added < 5 ms. A third
// path, the floor, has the same hops with no work in them (bench/minimal_path.ts): what it
// adds is what the processes and sockets alone cost on this machine in this run. Also
// what each request cost the processes that served it (CPU time and context switches, read from
// /proc): steadier from run to run than latency on a shared VM.
import { parseArgs } from "node:util";
import { perRequest, processTree, type ProcStats, readProcStats } from "./proc_stats.ts";
import { DEFAULT_POSTGRES_URL, freshPostgresDatabase, redactUrl } from "./bench_postgres.ts";
import { percentile } from "./percentile.ts";
import { denoCommand, denoTaskCommand, type WatchedOutput, watchOutput } from "../testing/child_output.ts";
import { sleep } from "../shared/mod.ts";

const dec = new TextDecoder();

const flags = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    floor: { type: "boolean", default: true },
    /** Write V8 CPU profiles of the control plane and the daemon into this folder. */
    profile: { type: "string" },
  },
}).values;
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const ROUNDS = Number(flags.rounds);
const MINIMAL_PATH = new URL("./minimal_path.ts", import.meta.url).pathname;
/** npm ws reads these two at load. */
const MINIMAL_PATH_ENV = "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE";

interface Proc {
  child: Deno.ChildProcess;
  out: WatchedOutput;
}

/** Bench children log at warn; their output drains in the background (the tail is kept). */
function spawn(cmd: Deno.Command): Proc {
  const child = cmd.spawn();
  return { child, out: watchOutput(child.stdout, { keepChars: flags.profile ? 4_000_000 : 100_000 }) };
}

const QUIET = { env: { INFERNET_LOG_LEVEL: "warn" } };
const spawnTask = (args: string[], env: Record<string, string> = {}) =>
  spawn(denoTaskCommand(args, { env: { ...QUIET.env, ...env } }));
/** `deno task start` itself, or with `--profile` the same program under `--cpu-prof`. */
/** The repository's folder: the programs a `--profile` run starts itself. */
const ROOT = new URL("../", import.meta.url).pathname;
/**
 * Samples every 100 µs (event-loop stalls of a fraction of a millisecond show), and prints each
 * collection with its pause and heap size (kept in `<profile>/<stack>-cp.log`, `-node.log`).
 */
const PROFILE_FLAGS = ["--cpu-prof", "--cpu-prof-interval=100", "--v8-flags=--trace-gc"];
/** `script` (from the repository) with `args`, under the profiler, its profiles in `<profile>/<dir>`. */
const spawnProfiled = (dir: string, script: string[], env: Record<string, string>) =>
  spawn(denoCommand(
    [
      "run",
      "--allow-all",
      ...PROFILE_FLAGS,
      `--cpu-prof-dir=${flags.profile}/${dir}`,
      `${ROOT}${script[0]}`,
      ...script.slice(1),
    ],
    { env: { ...QUIET.env, ...env } },
  ));
const spawnControlPlane = (args: string[], env: Record<string, string>) =>
  flags.profile ? spawnProfiled("cp", ["dev/main.ts", ...args], env) : spawnTask(["start", ...args], env);
/** `infernet start` (its launcher script), or with `--profile` the daemon itself under `--cpu-prof`. */
const spawnDaemon = (args: string[], env: Record<string, string>) =>
  flags.profile
    ? spawnProfiled("node", ["cli/main.ts", "start", ...args], env)
    : spawnTask(["infernet", "start", ...args], env);
const spawnDeno = (args: string[]) => spawn(denoCommand(args, QUIET));

/** The control plane's Server-Timing of one request (ms): its own work and the node's round trip. */
interface Split {
  cp: number;
  node: number;
}

/** One full-path request: what the consumer measured and how the control plane split it. */
interface Timed extends Split {
  total: number;
}

interface Sample {
  p50: number;
  p99: number;
  n: number;
  errors: number;
  /** What the serving processes spent per request. */
  cost: ProcStats;
  /** Full path only: the control plane's share of `cost` (the rest is the daemon's). */
  cpCost: ProcStats | null;
  /** Full path only: each request's latency with the control plane's split of it. */
  timed: Timed[];
}

/** Reads `cp;dur=…, node;dur=…` (the control plane's Server-Timing). */
function readSplit(res: Response): Split | undefined {
  const dur = (name: string) => {
    const m = res.headers.get("server-timing")?.match(new RegExp(`(?:^|,)\\s*${name};dur=([0-9.]+)`));
    return m ? Number(m[1]) : NaN;
  };
  const split = { cp: dur("cp"), node: dur("node") };
  return Number.isNaN(split.cp + split.node) ? undefined : split;
}

/** Sends `RATE` req/s for `SECONDS` (open loop) and measures each latency in ms. */
async function load(
  send: () => Promise<Split | undefined>,
  servers: number[],
  cpPids: number[] = [],
): Promise<Sample> {
  const before = readProcStats(servers);
  const cpBefore = readProcStats(cpPids);
  const total = RATE * SECONDS;
  const interval = 1000 / RATE;
  const latencies: number[] = [];
  const timed: Timed[] = [];
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const start = performance.now();
    inflight.push(
      send().then(
        (split) => {
          const ms = performance.now() - start;
          latencies.push(ms);
          if (split) timed.push({ total: ms, ...split });
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(inflight);
  const cost = perRequest(before, readProcStats(servers), total);
  const cpCost = cpPids.length ? perRequest(cpBefore, readProcStats(cpPids), total) : null;
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    n: latencies.length,
    errors,
    cost,
    cpCost,
    timed,
  };
}

const body = JSON.stringify({
  model: "infernet-test-echo",
  messages: [{ role: "user", content: "benchmark prompt of a few words" }],
});
const streamBody = JSON.stringify({
  model: "infernet-test-echo",
  messages: [{ role: "user", content: "benchmark prompt of a few words" }],
  stream: true,
});

function nonStream(url: string, key?: string) {
  return async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body,
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    await res.arrayBuffer();
    return readSplit(res);
  };
}

/**
 * Resolves at the first content chunk (time to first token), then reads the rest. Reads go into a
 * reused buffer: the default reader allocates 64 KB per read, and that churn made this load
 * generator stop for full GCs, which landed in both paths' tails.
 */
function firstToken(url: string, key?: string) {
  return async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: streamBody,
    });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const reader = res.body.getReader({ mode: "byob" });
    let buffer = spareBuffers.pop() ?? new ArrayBuffer(16 * 1024);
    const read = async () => {
      const r = await reader.read(new Uint8Array(buffer));
      if (r.value) buffer = r.value.buffer as ArrayBuffer;
      return r;
    };
    let seen = "";
    while (!seen.includes('"content":"Echo')) {
      const { value, done } = await read();
      if (done) throw new Error("stream ended before a token");
      seen += dec.decode(value);
    }
    void (async () => {
      while (!(await read()).done) { /* rest of the stream */ }
      spareBuffers.push(buffer);
    })();
    return readSplit(res);
  };
}
const spareBuffers: ArrayBuffer[] = [];

const dataDir = await Deno.makeTempDir({ prefix: "infernet-bench-" });
const procs: Proc[] = [];
/** With `--profile`: the children's output, written once they have ended. */
const logsWritten: Promise<void>[] = [];
let dropPostgres: (() => Promise<void>) | null = null;
try {
  const engine = spawnTask(["test-engine", "--port", "0"]);
  procs.push(engine);
  const engineUrl = JSON.parse((await engine.out.waitFor(/^\{.*"url".*\}$/m, 60_000))[0]).url as string;

  /** A control plane on `database` (its own data dir) with one daemon attached to the engine. */
  const startStack = async (name: string, database: Record<string, string>) => {
    const web = spawnControlPlane(["--port", "0", "--no-local-node"], {
      INFERNET_DATA_DIR: `${dataDir}/${name}`,
      INFERNET_KEY_RATE_LIMIT: "0",
      INFERNET_LOG_LEVEL: "warn",
      // Test money from the fake processor, enough for every hold of the run.
      INFERNET_DEV_CREDIT_USD: "100",
      ...database,
    });
    procs.push(web);
    const base = (await web.out.waitFor(/^OpenAI base URL: (\S+)\/v1/m, 60_000))[1];
    const key = (await web.out.waitFor(/^API key \(new, shown once[^)]*\): (\S+)/m, 60_000))[1];
    const home = `${dataDir}/${name}/node`;
    await denoTaskCommand(["infernet", "init"], { env: { INFERNET_HOME: home }, stdout: "null" }).output();
    const node = spawnDaemon([
      "--server",
      base,
      "--engine-url",
      engineUrl,
      "--max-concurrency",
      "256",
    ], {
      INFERNET_HOME: home,
    });
    procs.push(node);
    await node.out.waitFor(/online at/, 60_000);
    // "online" is printed once registered; jobs route once its job socket is up too.
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      if ((await res.text()).includes("infernet-test-echo")) break;
      await sleep(50);
    }
    // The control plane and the daemon (with their threads) serve the full path on top of the engine.
    const cpPids = processTree(web.child.pid);
    const pids = [...cpPids, ...processTree(node.child.pid)];
    if (flags.profile) {
      const keep = (proc: Proc, file: string) =>
        proc.out.done.then(() => Deno.writeTextFile(`${flags.profile}/${name}-${file}.log`, proc.out.text()));
      logsWritten.push(keep(web, "cp"), keep(node, "node"));
    }
    return { url: `${base}/v1/chat/completions`, key, pids, cpPids };
  };
  // The embedded default (what `deno task start` runs), and a real PostgreSQL when one answers:
  // what a production control plane runs on.
  const stacks = [{ name: "", label: "PGlite, the embedded default", ...await startStack("pglite", {}) }];
  const postgres = await freshPostgresDatabase(
    Deno.env.get("INFERNET_TEST_DATABASE_URL") ?? DEFAULT_POSTGRES_URL,
  );
  if (typeof postgres === "string") console.log(`full path on PostgreSQL: skipped, ${postgres}`);
  else {
    dropPostgres = postgres.drop;
    stacks.push({
      name: "Pg",
      label: `PostgreSQL at ${redactUrl(postgres.url)}`,
      ...await startStack("postgres", { DATABASE_URL: postgres.url }),
    });
  }

  let floor: string | null = null;
  let floorProcs: number[] = [];
  if (flags.floor) {
    const cp = spawnDeno(["run", "--allow-net", MINIMAL_PATH_ENV, MINIMAL_PATH, "cp"]);
    procs.push(cp);
    const cpUrl = JSON.parse((await cp.out.waitFor(/^\{.*"url".*\}$/m, 60_000))[0]).url as string;
    const floorNode = spawnDeno([
      "run",
      "--allow-net",
      MINIMAL_PATH_ENV,
      MINIMAL_PATH,
      "node",
      cpUrl,
      engineUrl,
    ]);
    procs.push(floorNode);
    await floorNode.out.waitFor(/"connected"/, 60_000);
    floor = `${cpUrl}/v1/chat/completions`;
    floorProcs = [...processTree(cp.child.pid), ...processTree(floorNode.child.pid)];
  }

  const direct = `${engineUrl}/v1/chat/completions`;
  // Warm up every path (JIT, connection pools).
  for (let i = 0; i < 300; i++) {
    await nonStream(direct)();
    for (const stack of stacks) {
      await nonStream(stack.url, stack.key)();
      await firstToken(stack.url, stack.key)();
    }
    if (floor) {
      await nonStream(floor)();
      await firstToken(floor)();
    }
  }
  // The engine serves the direct path; the stack's processes serve the full one on top of it.
  const engineProcs = processTree(engine.child.pid);
  const results: Record<string, Sample[]> = {};
  const record = async (
    name: string,
    send: () => Promise<Split | undefined>,
    pids: number[],
    cpPids: number[] = [],
  ) => void (results[name] ??= []).push(await load(send, pids, cpPids));
  for (let r = 0; r < ROUNDS; r++) {
    await record("directJson", nonStream(direct), engineProcs);
    if (floor) await record("floorJson", nonStream(floor), floorProcs);
    for (const s of stacks) await record(`fullJson${s.name}`, nonStream(s.url, s.key), s.pids, s.cpPids);
    await record("directTtft", firstToken(direct), engineProcs);
    if (floor) await record("floorTtft", firstToken(floor), floorProcs);
    for (const s of stacks) await record(`fullTtft${s.name}`, firstToken(s.url, s.key), s.pids, s.cpPids);
  }
  const middle = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const median = (xs: Sample[], k: "p50" | "p99") => middle(xs.map((x) => x[k]));
  const fmt = (n: number) => n.toFixed(3).padStart(8);
  console.log(
    `\ninference path latency — ${RATE} req/s open loop, ${SECONDS} s × ${ROUNDS} rounds per path (ms)`,
  );
  console.log(
    "                          p50       p99   requests  errors   CPU ms/req  switches/req  (cp / node)",
  );
  for (const [name, xs] of Object.entries(results)) {
    console.log(
      `${name.padEnd(18)} ${fmt(median(xs, "p50"))}  ${fmt(median(xs, "p99"))}  ${
        String(xs.reduce((n, x) => n + x.n, 0)).padStart(8)
      }  ${String(xs.reduce((n, x) => n + x.errors, 0)).padStart(6)}  ${
        fmt(middle(xs.map((x) => x.cost.cpuMs)))
      }  ${middle(xs.map((x) => x.cost.switches)).toFixed(1).padStart(12)}${
        xs[0].cpCost
          ? `  (${middle(xs.map((x) => x.cpCost!.cpuMs)).toFixed(2)} / ${
            middle(xs.map((x) => x.cost.cpuMs - x.cpCost!.cpuMs)).toFixed(2)
          })`
          : ""
      }`,
    );
  }
  console.log(
    "(CPU and switches: the engine's on the direct rows; the two processes on top of it on the others;" +
      " the Pg rows' control plane uses PostgreSQL, whose own processes are not counted)",
  );
  const added = (a: string, b: string, k: "p50" | "p99") => median(results[b], k) - median(results[a], k);
  const rowsOf = (s: string) =>
    [
      ["non-stream added p50", added("directJson", `fullJson${s}`, "p50"), 1],
      ["non-stream added p99", added("directJson", `fullJson${s}`, "p99"), 5],
      ["stream TTFT added p50", added("directTtft", `fullTtft${s}`, "p50"), 1],
      ["stream TTFT added p99", added("directTtft", `fullTtft${s}`, "p99"), 5],
    ] as const;
  const floorOf = (name: string) => {
    if (!floor) return "";
    const [mode, pct] = [
      name.startsWith("stream") ? "Ttft" : "Json",
      name.endsWith("p50") ? "p50" : "p99",
    ] as const;
    return `   (the floor adds ${added(`direct${mode}`, `floor${mode}`, pct).toFixed(3)} ms)`;
  };
  for (const stack of stacks) {
    console.log(`\nfull path, control plane on ${stack.label}:`);
    for (const [name, v, target] of rowsOf(stack.name)) {
      console.log(
        `${name.padEnd(24)} ${fmt(v)} ms   target < ${target} ms   ${v < target ? "MET   " : "MISSED"}${
          floorOf(name)
        }`,
      );
    }
  }
  // Where the full path's time goes, request by request, from the control plane's Server-Timing.
  const splits = Object.fromEntries(
    stacks.flatMap((s) => [`fullJson${s.name}`, `fullTtft${s.name}`]).map((name) => {
      const timed = results[name].flatMap((x) => x.timed).sort((a, b) => a.total - b.total);
      const slowest = timed.slice(Math.floor(timed.length * 0.99));
      const parts = {
        cp: (t: Timed) => t.cp,
        node: (t: Timed) => t.node,
        outside: (t: Timed) => t.total - t.cp - t.node,
      };
      return [
        name,
        Object.fromEntries(
          Object.entries(parts).map(([part, of]) => {
            const xs = timed.map(of).sort((a, b) => a - b);
            const mean = slowest.reduce((n, t) => n + of(t), 0) / Math.max(1, slowest.length);
            return [part, { p50: percentile(xs, 50), p99: percentile(xs, 99), slowest_1pct_mean: mean }];
          }),
        ),
      ];
    }),
  );
  console.log(
    "\nwhere the full path's time goes (the control plane's Server-Timing header, per request; ms)",
  );
  console.log("                            p50       p99   mean of the slowest 1%");
  for (const [name, parts] of Object.entries(splits)) {
    for (const [part, s] of Object.entries(parts)) {
      console.log(
        `${`${name} ${part}`.padEnd(20)} ${fmt(s.p50)}  ${fmt(s.p99)}  ${fmt(s.slowest_1pct_mean)}`,
      );
    }
  }
  console.log(
    "(cp: the control plane's own work; node: its socket to the daemon, the daemon and the engine, " +
      "both ways; outside: the consumer's socket to the control plane and the consumer itself)",
  );
  const round3 = (n: number) => Number(n.toFixed(3));
  const figures = (s: string) => Object.fromEntries(rowsOf(s).map(([n, v]) => [n, round3(v)]));
  console.log(
    JSON.stringify({
      bench: "inference_path",
      rate: RATE,
      seconds: SECONDS,
      rounds: ROUNDS,
      results: figures(""),
      results_postgres: stacks.length > 1 ? figures("Pg") : null,
      floor_added: floor
        ? {
          "non-stream p50": round3(added("directJson", "floorJson", "p50")),
          "non-stream p99": round3(added("directJson", "floorJson", "p99")),
          "stream TTFT p50": round3(added("directTtft", "floorTtft", "p50")),
          "stream TTFT p99": round3(added("directTtft", "floorTtft", "p99")),
        }
        : null,
      split: Object.fromEntries(
        Object.entries(splits).map(([name, parts]) => [
          name,
          Object.fromEntries(
            Object.entries(parts).map(([part, s]) => [part, {
              p50: round3(s.p50),
              p99: round3(s.p99),
              slowest_1pct_mean: round3(s.slowest_1pct_mean),
            }]),
          ),
        ]),
      ),
      cost_per_request: Object.fromEntries(
        Object.entries(results).map((
          [n, xs],
        ) => [n, {
          cpu_ms: round3(middle(xs.map((x) => x.cost.cpuMs))),
          switches: Number(middle(xs.map((x) => x.cost.switches)).toFixed(2)),
        }]),
      ),
    }),
  );
} finally {
  for (const p of procs.reverse()) {
    try {
      p.child.kill("SIGTERM");
    } catch { /* gone */ }
    await p.child.status;
  }
  await Promise.all(logsWritten);
  await dropPostgres?.().catch((err) => console.error(`could not drop the bench database: ${err}`));
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}
