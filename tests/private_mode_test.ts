// End to end, private mode (issue 28, docs/protocol.md §14): the official `openai` SDK →
// `infernet proxy` (a process) → /v1/route on the control plane → the node's /direct endpoint
// (`infernet start --direct-port`), or the control plane's relay to a node without one → test
// engine, and back, sealed. Then THE PROOF: a unique canary prompt, and its echoed answer, leave
// no trace in the control plane's database, KV, journal, log, nor in the frames it relayed.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { createLogger, sleep } from "../shared/mod.ts";
import { openTestControlPlane, type TestControlPlane } from "../testing/control_plane.ts";
import { type NodeProcess, startNode, stopNode } from "../testing/network.ts";
import { startTestEngine, type TestEngine } from "../testing/test_engine.ts";
import { cliCommand } from "../testing/run_cli.ts";
import { watchOutput } from "../testing/child_output.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import type { Database } from "../db/mod.ts";

/** What the control plane saw of the consumer's traffic: HTTP bodies both ways, socket frames. */
interface Wire {
  http: string[];
  socket: string[];
}

interface PrivateNet {
  t: TestControlPlane;
  engines: TestEngine[];
  /** nodes[0] has a direct endpoint (models direct-m, both-m); nodes[1] has none (relay-m, both-m). */
  nodes: NodeProcess[];
  logs: string[];
  wire: Wire;
  sdk: OpenAI;
  /** What `infernet proxy` printed to stderr so far (its warnings). */
  proxyStderr(): string;
}

/** Records the control plane's WebSocket frames in both directions (it runs in this process). */
function tapSockets(socket: string[]): () => void {
  const upgrade = Deno.upgradeWebSocket;
  const send = WebSocket.prototype.send;
  Object.defineProperty(Deno, "upgradeWebSocket", {
    configurable: true,
    writable: true,
    value: (req: Request, o?: Deno.UpgradeWebSocketOptions) => {
      const up = upgrade(req, o);
      up.socket.addEventListener("message", (e) => socket.push(String(e.data)));
      return up;
    },
  });
  WebSocket.prototype.send = function (data) {
    socket.push(typeof data === "string" ? data : "");
    return send.call(this, data);
  };
  return () => {
    Object.defineProperty(Deno, "upgradeWebSocket", { configurable: true, writable: true, value: upgrade });
    WebSocket.prototype.send = send;
  };
}

/** An HTTP pass-through in front of the control plane that keeps every body both ways. */
function recordingForwarder(target: string, http: string[]): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const body = req.body ? await req.text() : undefined;
    if (body) http.push(body);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const res = await fetch(target + u.pathname + u.search, {
      method: req.method,
      headers,
      body,
      signal: req.signal,
    });
    if (!res.body) return res;
    // Recorded as it passes; a client that goes away cancels the upstream body too.
    const at = http.push("") - 1;
    const decoder = new TextDecoder();
    const recorded = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          http[at] += decoder.decode(chunk, { stream: true });
          out.enqueue(chunk);
        },
      }),
    );
    return new Response(recorded, { status: res.status, headers: res.headers });
  });
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function withPrivateNet(fn: (net: PrivateNet) => Promise<void>, db?: Database): Promise<void> {
  const logs: string[] = [];
  const wire: Wire = { http: [], socket: [] };
  const untap = tapSockets(wire.socket);
  const cleanup: Array<() => Promise<unknown> | unknown> = [untap];
  const nodes: NodeProcess[] = [];
  try {
    const t = await openTestControlPlane({
      serve: true,
      db,
      log: createLogger({ level: "debug", write: (line) => logs.push(line) }),
    });
    cleanup.unshift(() => t.close());
    const url = t.server!.url;
    const engines = [
      await startTestEngine({ models: ["direct-m", "both-m"] }),
      await startTestEngine({ models: ["relay-m", "both-m"] }),
    ];
    for (const e of engines) cleanup.unshift(() => e.close());
    const port = freePort();
    const direct = ["--direct-port", String(port), "--direct-url", `http://127.0.0.1:${port}`];
    nodes.push(await startNode({ cp: t.cp, url }, engines[0].url, { args: direct }));
    cleanup.unshift(() => stopNode(nodes[0]));
    nodes.push(await startNode({ cp: t.cp, url }, engines[1].url));
    cleanup.unshift(() => stopNode(nodes[1]));
    const forwarder = recordingForwarder(url, wire.http);
    cleanup.unshift(() => forwarder.shutdown());
    const home = await Deno.makeTempDir({ prefix: "infernet-consumer-" });
    cleanup.push(() => Deno.remove(home, { recursive: true }));
    const forwarderUrl = `http://127.0.0.1:${forwarder.addr.port}`;
    const proxy = cliCommand(["proxy", "--port", "0", "--server", forwarderUrl], { INFERNET_HOME: home })
      .spawn();
    const out = watchOutput(proxy.stdout);
    const err = watchOutput(proxy.stderr);
    cleanup.unshift(async () => {
      proxy.kill("SIGTERM");
      await proxy.status;
      await Promise.all([out.done, err.done]);
    });
    const [, proxyPort] = await out.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\/v1/, 30_000);
    const sdk = new OpenAI({
      baseURL: `http://127.0.0.1:${proxyPort}/v1`,
      apiKey: t.apiKey,
      maxRetries: 0,
      timeout: 20_000,
    });
    try {
      await fn({ t, engines, nodes, logs, wire, sdk, proxyStderr: err.text });
    } catch (e) {
      for (const n of nodes) console.error(`--- node ${n.pubkey.slice(0, 8)} stderr ---\n${n.stderr()}`);
      console.error(`--- proxy stderr ---\n${err.text()}`);
      throw e;
    }
  } finally {
    for (const c of cleanup) await c();
  }
}

const ask = (text: string) => [{ role: "user" as const, content: text }];

async function streamed(sdk: OpenAI, model: string, text: string): Promise<string> {
  const stream = await sdk.chat.completions.create({ model, messages: ask(text), stream: true });
  let out = "";
  for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? "";
  return out;
}

async function whole(sdk: OpenAI, model: string, text: string): Promise<{ text: string; jobId: string }> {
  const { data, response } = await sdk.chat.completions.create({ model, messages: ask(text) }).withResponse();
  return {
    text: data.choices[0].message.content ?? "",
    jobId: response.headers.get("x-infernet-job-id") ?? "",
  };
}

/** Text of a KV value or a row, bytes decoded, so a canary stored in any form is found. */
function textOf(x: unknown): string {
  return JSON.stringify(
    x,
    (_k, v) =>
      typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? new TextDecoder().decode(v) : v,
  );
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await filesUnder(path));
    else if (e.isFile) out.push(new TextDecoder().decode(await Deno.readFile(path)));
  }
  return out;
}

/** Every place the control plane kept something, by name, as text. */
async function everything(net: PrivateNet): Promise<Record<string, string>> {
  const { cp } = net.t;
  await Promise.allSettled([...cp.runDeps.pending]);
  await cp.recorder.flush();
  const tables = await cp.db.sql<{ name: string }[]>`
    select table_schema || '.' || table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`;
  const db: string[] = [];
  for (const { name } of tables) {
    const [schema, table] = name.split(".");
    const rows = await cp.db.sql.unsafe(`select t::text as row from "${schema}"."${table}" t`);
    db.push(`${name}: ${rows.map((r) => r.row).join("\n")}`);
  }
  const kv: string[] = [];
  for await (const e of cp.kv.list({ prefix: [] }, { limit: 100_000 })) kv.push(textOf(e));
  const journal = cp.config.journalDir ? await filesUnder(cp.config.journalDir) : [];
  return {
    database: db.join("\n"),
    kv: kv.join("\n"),
    journal: journal.join("\n"),
    log: net.logs.join("\n"),
    "relayed http": net.wire.http.join("\n"),
    "socket frames": net.wire.socket.join("\n"),
  };
}

/** Waits (≤ 10 s) until the job's row is in the database. */
async function settled(net: PrivateNet, jobId: string): Promise<void> {
  const { cp } = net.t;
  for (let i = 0; i < 200; i++) {
    await Promise.allSettled([...cp.runDeps.pending]);
    await cp.recorder.flush();
    const [row] = await cp.db.sql`select 1 from jobs where id = ${jobId}`;
    if (row) return;
    await sleep(50);
  }
  throw new Error(`job ${jobId} was never recorded`);
}

testOnEachDatabase(
  "private mode - the SDK through infernet proxy, direct and relayed, streamed and not; no trace of the canary",
  async (db) => {
    await withPrivateNet(async (net) => {
      const canary = `canary-${crypto.randomUUID()}`;
      const prompt = `please repeat ${canary} back to me`;
      // Direct: the node with an endpoint.
      assert.equal(await streamed(net.sdk, "direct-m", prompt), `Echo: ${prompt}`);
      const direct = await whole(net.sdk, "direct-m", prompt);
      assert.equal(direct.text, `Echo: ${prompt}`);
      // Relayed: the node behind "NAT" (no endpoint).
      assert.equal(await streamed(net.sdk, "relay-m", prompt), `Echo: ${prompt}`);
      const relayed = await whole(net.sdk, "relay-m", prompt);
      assert.equal(relayed.text, `Echo: ${prompt}`);
      assert.match(direct.jobId, /^job_/);
      assert.match(relayed.jobId, /^job_/);
      await settled(net, direct.jobId);
      await settled(net, relayed.jobId);
      assert.doesNotMatch(net.proxyStderr(), /usage ack/, "the control plane took every usage ack");

      const seen = await everything(net);
      // The places were looked at, and hold the jobs: the search is not vacuous.
      assert.ok(seen.database.includes(direct.jobId) && seen.database.includes(relayed.jobId));
      assert.ok(seen.log.length > 0, "the control plane logged");
      assert.ok(
        seen["socket frames"].includes('"relay_frame"'),
        "frames were relayed over the node's socket",
      );
      assert.ok(seen["relayed http"].includes(relayed.jobId), "the relay's HTTP bodies were recorded");
      for (const [place, text] of Object.entries(seen)) {
        assert.ok(!text.includes(canary), `the canary is in the control plane's ${place}`);
        assert.ok(!text.includes("please repeat"), `the prompt's words are in the control plane's ${place}`);
      }
    }, db);
  },
);

Deno.test("private mode - a node failing before its first token is replaced by the next, through the relay", async () => {
  await withPrivateNet(async (net) => {
    net.engines[0].configure({ failure: "refuse" });
    const order = net.nodes.map((n) => n.pubkey);
    // OpenRouter-style routing preferences, an Infernet extension the SDK passes through.
    const stream = await net.sdk.chat.completions.create({
      model: "both-m",
      messages: ask("fallback please"),
      stream: true,
      provider: { order },
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    let out = "";
    for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? "";
    assert.equal(out, "Echo: fallback please");
    assert.ok(net.engines[0].events.some((e) => e.type === "request"), "the first node was tried");
    assert.ok(net.engines[1].events.some((e) => e.type === "complete"), "the second node answered");
  });
});

Deno.test("private mode - a client abort through the proxy stops the engine, direct and relayed", async () => {
  await withPrivateNet(async (net) => {
    const words = Array.from({ length: 200 }, (_, i) => `w${i}`).join(" ");
    for (const [model, engine] of [["direct-m", net.engines[0]], ["relay-m", net.engines[1]]] as const) {
      engine.configure({ tokenDelayMs: 50 });
      const ac = new AbortController();
      const stream = await net.sdk.chat.completions.create(
        { model, messages: ask(words), stream: true },
        { signal: ac.signal },
      );
      let n = 0;
      for await (const _ of stream) if (++n === 3) ac.abort();
      for (let i = 0; i < 200 && !engine.events.some((e) => e.type === "abort"); i++) await sleep(25);
      const types = engine.events.map((e) => e.type);
      assert.ok(types.includes("abort"), `${model}: the engine saw no abort: ${types.join(", ")}`);
      assert.ok(!types.includes("complete"), `${model}: the engine did not finish the answer`);
    }
  });
});
