// The floor for `deno task bench`: the inference path's shape with as little code as it can have —
// a "control plane" (Deno.serve, and a WebSocket the node opens) and a "node" (npm ws, the
// daemon's kept-alive engine client, the stream's events back as frames), each its own process
// like the real ones, with no auth, routing, billing, metering or job state. What it adds over
// calling the engine directly is what the hops themselves cost on this machine; the real path's
// figures are read against it.
//
//   deno run --allow-net --allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE bench/minimal_path.ts cp
//     prints {"url": …}; with `node <cp URL> <engine URL>` instead of `cp`, {"connected": true}
//
// `hop <engine URL>` is direct mode's floor (bench/direct_latency_bench.ts): one Deno server that
// POSTs each request's body on to the engine with the daemon's engine client and answers with the
// engine's answer (non-streamed), no ticket, keys or frames; it prints {"url": …}.
import WebSocket from "ws";
import { EngineClient } from "../cli/daemon/engine_http.ts";

type Frame =
  | { id: string; type: "response"; status: number; body: string }
  | { id: string; type: "chunks"; data: string[] }
  | { id: string; type: "end" };

const enc = new TextEncoder();

function serveControlPlane(): void {
  let node: globalThis.WebSocket | null = null;
  const jobs = new Map<string, (f: Frame) => void>();
  let seq = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (new URL(req.url).pathname === "/ws") {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = () => (node = socket);
      socket.onmessage = (e) => {
        const f = JSON.parse(e.data) as Frame;
        jobs.get(f.id)?.(f);
      };
      return response;
    }
    if (!node) return new Response("no node", { status: 503 });
    const id = String(++seq);
    const queue: Frame[] = [];
    let wake: (() => void) | null = null;
    jobs.set(id, (f) => {
      queue.push(f);
      wake?.();
    });
    const next = () =>
      queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<Frame>((resolve) => {
        wake = () => {
          wake = null;
          resolve(queue.shift()!);
        };
      });
    node.send(JSON.stringify({ id, body: await req.json() }));
    const first = await next();
    if (first.type === "response") {
      jobs.delete(id);
      return new Response(first.body, {
        status: first.status,
        headers: { "content-type": "application/json" },
      });
    }
    let pending: Frame | null = first;
    const body = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        const f = pending ?? await next();
        pending = null;
        if (f.type === "chunks") ctrl.enqueue(enc.encode(f.data.map((d) => `data: ${d}\n\n`).join("")));
        else {
          ctrl.enqueue(enc.encode("data: [DONE]\n\n"));
          ctrl.close();
          jobs.delete(id);
        }
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.addr.port}` }));
}

function runNode(cpUrl: string, engineUrl: string): void {
  const ws = new WebSocket(cpUrl.replace(/^http/, "ws") + "/ws");
  const send = (f: Frame) => ws.send(JSON.stringify(f));
  const engine = new EngineClient(engineUrl);
  const never = new AbortController().signal;
  ws.on("message", async (raw: WebSocket.RawData) => {
    const job = JSON.parse(raw.toString()) as { id: string; body: { stream?: boolean } };
    const res = await engine.post(
      "/v1/chat/completions",
      JSON.stringify(job.body),
      { "content-type": "application/json" },
      never,
    );
    if (!job.body.stream) {
      return send({ id: job.id, type: "response", status: res.status, body: await res.text() });
    }
    const dec = new TextDecoder();
    let buffered = "";
    for (let bytes = await res.read(); bytes; bytes = await res.read()) {
      buffered += dec.decode(bytes, { stream: true });
      const events = buffered.split("\n\n");
      buffered = events.pop()!;
      const data = events.map((e) => e.slice("data: ".length)).filter((d) => d !== "[DONE]");
      if (data.length > 0) send({ id: job.id, type: "chunks", data });
    }
    send({ id: job.id, type: "end" });
  });
  ws.on("open", () => console.log(JSON.stringify({ connected: true })));
}

function serveHop(engineUrl: string): void {
  const engine = new EngineClient(engineUrl);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const res = await engine.post(
      "/v1/chat/completions",
      await req.text(),
      { "content-type": "application/json" },
      req.signal,
    );
    return new Response(await res.text(), {
      status: res.status,
      headers: { "content-type": "application/json" },
    });
  });
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.addr.port}` }));
}

if (import.meta.main) {
  const [role, ...rest] = Deno.args;
  if (role === "cp") serveControlPlane();
  else if (role === "hop" && rest.length === 1) serveHop(rest[0]);
  else if (role === "node" && rest.length === 2) runNode(rest[0], rest[1]);
  else {
    console.error("usage: minimal_path.ts cp | node <control plane URL> <engine URL> | hop <engine URL>");
    Deno.exit(2);
  }
}
