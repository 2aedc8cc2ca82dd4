import assert from "node:assert/strict";
import OpenAI from "openai";
import { generateSecretKey } from "nostr-tools/pure";
import { createLogger } from "../../shared/mod.ts";
import { type StandIn, type StandInNode, startDirectStandIn } from "../../testing/direct_stand_in.ts";
import { createProxyHandler } from "./handler.ts";

const ANSWER = "Private answers travel sealed.";
const MESSAGES = [{ role: "user" as const, content: "Say something private." }];

async function withProxy(
  nodes: StandInNode[],
  fn: (sdk: OpenAI, s: StandIn, url: string, logs: string[]) => Promise<void>,
  relayOnly = false,
) {
  const s = startDirectStandIn(nodes);
  const logs: string[] = [];
  const log = createLogger({ level: "info", write: (line) => logs.push(line) });
  const handler = createProxyHandler({ server: s.url, relayOnly, log });
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const url = `http://127.0.0.1:${http.addr.port}/v1`;
  try {
    await fn(new OpenAI({ baseURL: url, apiKey: "sk-test", maxRetries: 0, timeout: 10_000 }), s, url, logs);
  } finally {
    await http.shutdown();
    await s.close();
  }
}

Deno.test("proxy - the openai SDK streams a private completion, framed as OpenAI's SSE", async () => {
  await withProxy([{ behaviour: "ok", direct: true }], async (sdk, s) => {
    const stream = await sdk.chat.completions.create({ model: "m", messages: MESSAGES, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    assert.equal(text, ANSWER);
    assert.equal(s.acks.length, 1);
  });
});

Deno.test("proxy - the SSE ends with data: [DONE] and the API key reaches the control plane", async () => {
  await withProxy([{ behaviour: "ok", direct: true }], async (_sdk, _s, url) => {
    const res = await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test", "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: MESSAGES, stream: true }),
    });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    assert.equal(res.headers.get("x-infernet-job-id"), "job_standin1", "the job is named as on /v1");
    const text = await res.text();
    assert.ok(text.endsWith("data: [DONE]\n\n"), text);
    assert.equal(text.split("\n\n").filter(Boolean).length, 6);
  });
});

Deno.test("proxy - a non-streamed completion through the relay, and models passed through", async () => {
  await withProxy([{ behaviour: "ok", direct: true }], async (sdk, s) => {
    const done = await sdk.chat.completions.create({ model: "m", messages: MESSAGES });
    assert.equal(done.choices[0].message.content, ANSWER);
    assert.equal(s.relayed, 1);
    assert.equal(s.acks.length, 1, "the ack is posted before the answer returns");
    const models = await sdk.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ["standin-model"]);
  }, true);
});

Deno.test("proxy - errors come back as OpenAI errors the SDK recognises", async () => {
  await withProxy([{ behaviour: "refuse", direct: true }], async (sdk, _s, url) => {
    await assert.rejects(
      sdk.chat.completions.create({ model: "missing", messages: MESSAGES }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found",
    );
    await assert.rejects(
      sdk.chat.completions.create({ model: "m", messages: MESSAGES }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 502 && err.code === "engine_down",
    );
    const anon = await fetch(`${url}/chat/completions`, { method: "POST", body: "{}" });
    assert.equal(anon.status, 401);
    assert.equal((await anon.json()).error.code, "invalid_api_key");
  });
});

Deno.test("proxy - a node failing mid-stream raises an SDK error after the first chunks", async () => {
  await withProxy([{ behaviour: "mid_error", direct: true }], async (sdk) => {
    const stream = await sdk.chat.completions.create({ model: "m", messages: MESSAGES, stream: true });
    let text = "";
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    }, (err: unknown) => err instanceof OpenAI.APIError && /engine died/.test(err.message));
    assert.equal(text, "Private");
  });
});

Deno.test("proxy - the client going away stops the node's stream", async () => {
  await withProxy([{ behaviour: "endless", direct: true }], async (sdk, s) => {
    const ac = new AbortController();
    const stream = await sdk.chat.completions.create(
      { model: "m", messages: MESSAGES, stream: true },
      { signal: ac.signal },
    );
    let n = 0;
    // The SDK ends a stream its caller aborted without an error.
    for await (const _ of stream) if (++n === 3) ac.abort();
    assert.equal(n, 3);
    for (let i = 0; i < 200 && s.cancelled.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(s.cancelled, [0]);
    for (let i = 0; i < 200 && s.acks.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.acks.length, 1);
  });
});

Deno.test("proxy - a non-streamed request the client abandons stops the node, and is no error", async () => {
  await withProxy([{ behaviour: "silent", direct: true }], async (_sdk, s, url, logs) => {
    // Plain fetch: under Deno the SDK's abort of a pending non-streamed request leaves the
    // connection open (tests/inference_path_test.ts), and fetch closes it, as a departing client does.
    const ac = new AbortController();
    const asked = fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer sk-test", "content-type": "application/json" },
      body: JSON.stringify({ model: "m", messages: MESSAGES }),
      signal: ac.signal,
    });
    for (let i = 0; i < 200 && s.requests[0].length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await assert.rejects(asked, (err: unknown) => (err as Error).name === "AbortError");
    for (let i = 0; i < 200 && s.cancelled.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(s.cancelled, [0]);
    assert.deepEqual(logs.filter((l) => /"level":"(warn|error)"/.test(l)), []);
  });
});

Deno.test("proxy - --target model seals to the model key; a route without one is a clear SDK error", async () => {
  const modelKey = generateSecretKey();
  for (const offered of [true, false]) {
    const s = startDirectStandIn([{ behaviour: "ok", direct: true }], offered ? { modelKey } : {});
    const log = createLogger({ level: "silent" });
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createProxyHandler({ server: s.url, target: "model", log }),
    );
    try {
      const sdk = new OpenAI({
        baseURL: `http://127.0.0.1:${http.addr.port}/v1`,
        apiKey: "sk-test",
        maxRetries: 0,
      });
      const asked = sdk.chat.completions.create({ model: "m", messages: MESSAGES });
      if (offered) {
        assert.equal((await asked).choices[0].message.content, ANSWER);
        assert.equal(s.routes[0].target, "model");
      } else {
        await assert.rejects(
          asked,
          (err: unknown) =>
            err instanceof OpenAI.NotFoundError && err.code === "model_key_not_found" &&
            /no model key for 'm'/.test(err.message),
        );
        assert.equal(s.requests[0].length, 0);
      }
    } finally {
      await http.shutdown();
      await s.close();
    }
  }
});

Deno.test("proxy - an answer sealed with another key is refused and the next node answers", async () => {
  await withProxy(
    [{ behaviour: "wrong_key", direct: true }, { behaviour: "ok", direct: true }],
    async (sdk, s, _u, logs) => {
      const stream = await sdk.chat.completions.create({ model: "m", messages: MESSAGES, stream: true });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      assert.equal(text, ANSWER);
      assert.ok(logs.some((l) => l.includes("answer_key_mismatch")), logs.join("\n"));
      assert.equal(s.acks.length, 1);
      assert.equal(JSON.parse(s.acks[0].content).node, s.nodePubkeys[1]);
    },
  );
  await withProxy([{ behaviour: "wrong_key", direct: true }], async (sdk) => {
    await assert.rejects(
      sdk.chat.completions.create({ model: "m", messages: MESSAGES }),
      (err: unknown) =>
        err instanceof OpenAI.APIError && err.status === 502 && err.code === "answer_key_mismatch" &&
        /another key than its ticket's/.test(err.message),
    );
  });
});
