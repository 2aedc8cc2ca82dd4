// The daemon's engine proxy: a stream's frames, and the role chunk that waits briefly for the
// first token so both travel as one frame.
import assert from "node:assert/strict";
import type { NodeFrame } from "../../shared/mod.ts";
import { startTestEngine } from "../../testing/mod.ts";
import { type JobFrame, proxyJob } from "./engine_proxy.ts";
import { EngineClient } from "./engine_http.ts";

const chatJob = (id: string): JobFrame => ({
  type: "job",
  job_id: id,
  kind: "chat",
  stream: true,
  body: { model: "infernet-test-echo", stream: true, messages: [{ role: "user", content: "hi there" }] },
});

const sse = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${
    JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })
  }\n\n`;

/** An engine that sends the role chunk, then waits `gapMs` before the first token (a long prefill). */
function startSlowEngine(gapMs: number) {
  const enc = new TextEncoder();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(ctrl) {
        ctrl.enqueue(enc.encode(sse({ role: "assistant", content: "" })));
        timer = setTimeout(() => {
          ctrl.enqueue(enc.encode(sse({ content: "late" }) + sse({}, "stop") + "data: [DONE]\n\n"));
          ctrl.close();
        }, gapMs);
        req.signal.addEventListener("abort", () => clearTimeout(timer));
      },
      cancel: () => clearTimeout(timer),
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** Runs a job through the proxy to its end, on `client` or a client of its own for `engine`;
 * every frame it sent, in order. */
async function proxyAll(job: JobFrame, engine: string | EngineClient) {
  const client = typeof engine === "string" ? new EngineClient(engine) : engine;
  try {
    const frames: NodeFrame[] = [];
    const outcome = await proxyJob(job, client, (f) => frames.push(f), new AbortController().signal);
    return { outcome, frames };
  } finally {
    if (client !== engine) await client.close();
  }
}

const contentOf = (data: string) => JSON.parse(data).choices[0]?.delta?.content ?? "";

Deno.test("engine proxy - a role chunk and the token right after it go out as one frame", async () => {
  const engine = await startTestEngine();
  const client = new EngineClient(engine.url);
  try {
    // A first job warms both sides up: compiling the proxy's and the engine's code (they share this
    // isolate) between the two chunks once took longer than the role's wait, on a busy CI machine.
    await proxyAll(chatJob("job_0"), client);
    const { outcome, frames } = await proxyAll(chatJob("job_1"), client);
    assert.equal(outcome, "completed");
    const chunks = frames.filter((f) => f.type === "chunks");
    const first = chunks[0];
    assert.ok(first?.type === "chunks");
    assert.equal(JSON.parse(first.data[0]).choices[0].delta.role, "assistant");
    assert.ok(
      first.data.length >= 2 && contentOf(first.data[1]) !== "",
      "the first token travels with the role",
    );
    const text = chunks.flatMap((f) => (f.type === "chunks" ? f.data : [])).map(contentOf).join("");
    assert.equal(text, "Echo: hi there");
    assert.equal(frames.at(-1)?.type, "end");
  } finally {
    await client.close();
    await engine.close();
  }
});

Deno.test("engine proxy - a role chunk does not wait for a slow first token", async () => {
  const engine = startSlowEngine(300);
  try {
    const { outcome, frames } = await proxyAll(chatJob("job_2"), engine.url);
    assert.equal(outcome, "completed");
    assert.deepEqual(frames.map((f) => f.type), ["chunks", "chunks", "end"]);
    const [roleFrame, tokenFrame] = frames;
    assert.ok(roleFrame.type === "chunks" && tokenFrame.type === "chunks");
    assert.deepEqual(roleFrame.data.map(contentOf), [""], "the role chunk went ahead on its own");
    assert.deepEqual(tokenFrame.data.map(contentOf), ["late", ""]);
  } finally {
    await engine.close();
  }
});

Deno.test("engine proxy - cancelled while the role chunk waits: cancelled, nothing more sent", async () => {
  const engine = startSlowEngine(5_000);
  const client = new EngineClient(engine.url);
  try {
    const frames: NodeFrame[] = [];
    const ac = new AbortController();
    const running = proxyJob(chatJob("job_3"), client, (f) => {
      frames.push(f);
      ac.abort(); // the consumer leaves as soon as anything arrives
    }, ac.signal);
    assert.equal(await running, "cancelled");
    assert.equal(frames.length, 1, "only the role chunk went out");
  } finally {
    await client.close();
    await engine.close();
  }
});

const textOf = (frames: NodeFrame[]) =>
  frames.flatMap((f) => (f.type === "chunks" ? f.data : [])).map(contentOf).join("");

const sayJob = (id: string, content: string): JobFrame => ({
  ...chatJob(id),
  body: { model: "infernet-test-echo", stream: true, messages: [{ role: "user", content }] },
});

Deno.test("engine proxy - tokens the engine sent together cross as one frame after the first", async () => {
  const engine = await startTestEngine();
  const client = new EngineClient(engine.url);
  try {
    const frames: NodeFrame[] = [];
    const ac = new AbortController();
    const outcome = await proxyJob(
      sayJob("job_4", "one two three four five six"),
      client,
      (f) => frames.push(f),
      ac.signal,
    );
    assert.equal(outcome, "completed");
    // The first token goes at once (with the role chunk); the rest of the burst, already read
    // from the engine, follows in one frame instead of one per token.
    assert.deepEqual(frames.map((f) => f.type), ["chunks", "chunks", "end"]);
    assert.equal(textOf(frames), "Echo: one two three four five six");
  } finally {
    await client.close();
    await engine.close();
  }
});

Deno.test("engine proxy - tokens the engine spaces out go out one by one, without waiting for more", async () => {
  const engine = await startTestEngine({ tokenDelayMs: 40 });
  try {
    const { outcome, frames } = await proxyAll(sayJob("job_5", "a b c"), engine.url);
    assert.equal(outcome, "completed");
    const tokens = frames.filter((f) => f.type === "chunks").map((f) =>
      f.type === "chunks" ? textOf([f]) : ""
    );
    assert.deepEqual(tokens.slice(0, 4), ["Echo: ", "a ", "b ", "c"]);
    assert.equal(frames.at(-1)?.type, "end");
  } finally {
    await engine.close();
  }
});

/**
 * An engine that answers with the role chunk and `tokens` in one write, then drops the connection
 * (no [DONE], no end of the chunked body): a crash right after a burst.
 */
function startCuttingEngine(tokens: string[]) {
  const enc = new TextEncoder();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const chunk = (s: string) => `${enc.encode(s).length.toString(16)}\r\n${s}\r\n`;
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(64 * 1024));
      const events = [sse({ role: "assistant", content: "" }), ...tokens.map((t) => sse({ content: t }))];
      const head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
      await conn.write(enc.encode(head + events.map(chunk).join("")));
      conn.close();
    }
  })().catch(() => {});
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      listener.close();
      await serving;
    },
  };
}

Deno.test("engine proxy - what arrived before the engine cut its stream still reaches the consumer", async () => {
  const engine = startCuttingEngine(["Echo: ", "one ", "two ", "three"]);
  try {
    const { outcome, frames } = await proxyAll(chatJob("job_6"), engine.url);
    assert.equal(outcome, "failed");
    assert.equal(textOf(frames), "Echo: one two three");
    const last = frames.at(-1);
    assert.ok(last?.type === "fail" && last.started, JSON.stringify(last));
  } finally {
    await engine.close();
  }
});
