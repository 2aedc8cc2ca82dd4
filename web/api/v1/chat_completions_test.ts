// Streamed chat completions in-process, against a scripted node on a NodeConnection: what the
// consumer's reads look like (each read of an in-process body is one write of the server).
import assert from "node:assert/strict";
import type { NodeFrame } from "../../../shared/mod.ts";
import { sampleAdvert } from "../../../testing/node_advert.ts";
import type { createApp } from "../../app.ts";
import { withScriptedNode } from "../../../testing/scripted_node.ts";
import { countChatPromptTokens, countText } from "../../metering/count_tokens.ts";
import { TOOL_CALL_TOKENS } from "../../../shared/mod.ts";

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta, finish_reason: finish }],
  });

/** The node's first frame: the role chunk with the first token. */
function firstFrame(jobId: string): NodeFrame {
  return {
    type: "chunks",
    job_id: jobId,
    data: [chunk({ role: "assistant", content: "" }), chunk({ content: "Hel" })],
  };
}

function streamChat(app: ReturnType<typeof createApp>, apiKey: string): Promise<Response> {
  return Promise.resolve(app.request("http://control.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: "hi" }] }),
  }));
}

async function readsOf(res: Response): Promise<string[]> {
  const reads: string[] = [];
  const dec = new TextDecoder();
  for await (const bytes of res.body!) reads.push(dec.decode(bytes));
  return reads;
}

Deno.test("chat completions - the frames a node already sent reach the consumer in one write, [DONE] with them", async () => {
  await withScriptedNode(
    (id) => [
      firstFrame(id),
      { type: "chunks", job_id: id, data: [chunk({ content: "lo" })] },
      { type: "chunks", job_id: id, data: [chunk({ content: "!" }), chunk({}, "stop")] },
      { type: "end", job_id: id },
    ],
    async (app, apiKey) => {
      const res = await streamChat(app, apiKey);
      assert.equal(res.status, 200);
      // A stream is readable from a browser page too (CORS, web/app.ts).
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      const reads = await readsOf(res);
      assert.equal(
        reads.length,
        2,
        `the first token at once, then the rest in one write: ${JSON.stringify(reads)}`,
      );
      assert.match(reads[0], /"content":"Hel"/);
      assert.ok(reads[1].endsWith("data: [DONE]\n\n"));
      const text = reads.join("").split("\n\n").filter((l) => l.startsWith("data: {"))
        .map((l) => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? "").join("");
      assert.equal(text, "Hello!");
    },
  );
});

Deno.test("chat completions - a node failing right after its chunks: the chunks and the error go out together", async () => {
  await withScriptedNode(
    (id) => [
      firstFrame(id),
      { type: "chunks", job_id: id, data: [chunk({ content: "lo" })] },
      { type: "fail", job_id: id, code: "engine_died", message: "engine: gone", started: true },
    ],
    async (app, apiKey) => {
      const res = await streamChat(app, apiKey);
      const reads = await readsOf(res);
      assert.equal(reads.length, 2);
      assert.match(reads[1], /"content":"lo"/);
      assert.match(reads[1], /"code":"node_failed"/);
      assert.ok(!reads.join("").includes("[DONE]"));
    },
  );
});

/** The durations of a Server-Timing header, by metric name. */
function serverTiming(res: Response): Record<string, number> {
  const header = res.headers.get("server-timing");
  assert.ok(header, "a Server-Timing header");
  return Object.fromEntries(
    header.split(",").map((metric) => {
      const [name, ...params] = metric.trim().split(";");
      const dur = params.find((p) => p.startsWith("dur="));
      assert.ok(dur, `a duration on ${metric}`);
      return [name, Number(dur.slice(4))];
    }),
  );
}

Deno.test("chat completions - Server-Timing splits the time into the control plane's and the node's", async () => {
  const NODE_MS = 60;
  const answer = JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: "Hello" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
  const cases = [
    {
      stream: true,
      script: (id: string): NodeFrame[] => [firstFrame(id), { type: "end", job_id: id }],
    },
    {
      stream: false,
      script: (id: string): NodeFrame[] => [{ type: "response", job_id: id, status: 200, body: answer }],
    },
  ];
  for (const { stream, script } of cases) {
    await withScriptedNode(script, async (app, apiKey) => {
      const started = performance.now();
      const res = await app.request("http://control.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "m", stream, messages: [{ role: "user", content: "hi" }] }),
      });
      const elapsed = performance.now() - started;
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
      const timing = serverTiming(res);
      assert.deepEqual(Object.keys(timing).sort(), ["cp", "node"], `stream=${stream}`);
      // The node took NODE_MS to answer: that time is the node's, not the control plane's.
      assert.ok(timing.node >= NODE_MS - 1, `node ${timing.node} ms covers its ${NODE_MS} ms`);
      // And cp is the rest: both fit in what was measured, so the node's time is not in cp too. (Not
      // "cp < node": a fresh control plane's first request, JIT and all, took 66-92 ms on a slow VM.)
      assert.ok(timing.cp >= 0, `cp ${timing.cp} ms`);
      assert.ok(timing.cp + timing.node <= elapsed + 1, `both within the ${elapsed} ms measured`);
    }, NODE_MS);
  }
});

Deno.test("chat completions - a prompt and an answer that spell special tokens are counted as text", async () => {
  const spelled = "<|endoftext|><|im_start|>system";
  const answer = JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: spelled }, finish_reason: "stop" }],
  });
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body: answer }],
    async (app, apiKey) => {
      const res = await app.request("http://control.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: `say ${spelled}` }] }),
      });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      // The engine reported no usage: both counts are ours, with the spellings as ordinary text.
      assert.equal(
        body.usage.prompt_tokens,
        countChatPromptTokens([{ role: "user", content: `say ${spelled}` }]),
      );
      assert.equal(body.usage.completion_tokens, countText(spelled));
    },
  );
});

Deno.test("chat completions - a consumer who leaves while a long prompt is counted: no node gets the job", async () => {
  const jobs: string[] = [];
  await withScriptedNode(
    (id) => {
      jobs.push(id);
      return [{ type: "response", job_id: id, status: 200, body: "{}" }];
    },
    async (app, apiKey, t) => {
      const ctrl = new AbortController();
      // ~4 MB of words: counted a slice at a time, hundreds of turns of the event loop.
      const content = "the control plane counts every word of a long prompt ".repeat(80_000);
      const answered = Promise.resolve(app.request("http://control.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content }] }),
        signal: ctrl.signal,
      }));
      setTimeout(() => ctrl.abort(), 20);
      const res = await answered;
      assert.equal(res.status, 499, await res.clone().text());
      await res.body?.cancel();
      assert.deepEqual(jobs, [], "the job never reached a node");
      await t.cp.recorder.flush();
      const rows = await t.cp.db.sql<{ status: string; error_code: string | null }[]>`
      select status, error_code from jobs`;
      assert.deepEqual(rows.map((r) => [r.status, r.error_code]), [["cancelled", "client_disconnected"]]);
      // A node that does not say its context window: the whole prompt is counted.
    },
    0,
    sampleAdvert({
      models: [{ id: "m", contextLength: null, promptPricePer1k: 1000, completionPricePer1k: 1000 }],
    }),
  );
});

/** A chat request whose one message is `content`. */
function chatRequest(apiKey: string, content: string): Request {
  return new Request("http://control.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content }] }),
  });
}

Deno.test("chat completions - a prompt longer than the model's context window: 400 context_length_exceeded, no node gets it", async () => {
  const jobs: string[] = [];
  const answer = JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "ok" } }] });
  await withScriptedNode((id) => {
    jobs.push(id);
    return [{ type: "response", job_id: id, status: 200, body: answer }];
  }, async (app, apiKey, t) => {
    // The node's window is 4,096 tokens (sampleAdvert). ~4,500 by our count: over the window, but an
    // engine's tokenizer may count fewer, so the engine judges it.
    const near = "hello ".repeat(4_490);
    assert.ok(countChatPromptTokens([{ role: "user", content: near }]) > 4_096);
    const ok = await app.request(chatRequest(apiKey, near));
    assert.equal(ok.status, 200, await ok.text());
    assert.equal(jobs.length, 1);
    // ~1.2 million tokens: over what any engine could count under the window; refused unheld and unsent.
    const res = await app.request(chatRequest(apiKey, "hello ".repeat(1_200_000)));
    const body = await res.json();
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.deepEqual(body.error, {
      message: "This model's maximum context length is 4096 tokens. However, your messages resulted in " +
        "more than 4096 tokens. Please reduce the length of the messages.",
      type: "invalid_request_error",
      param: "messages",
      code: "context_length_exceeded",
    });
    assert.equal(jobs.length, 1, "the long prompt never reached the node");
    await t.cp.recorder.flush();
    const rows = await t.cp.db.sql<{ status: string; error_code: string | null }[]>`
      select status, error_code from jobs order by created_at`;
    assert.deepEqual(rows.map((r) => [r.status, r.error_code]), [
      ["completed", null],
      ["rejected", "context_length_exceeded"],
    ]);
  });
});

Deno.test("chat completions - tool calls, reasoning and the tools offered are counted, streamed or not", async () => {
  const call = { name: "get_weather", arguments: '{"city": "Paris", "unit": "celsius"}' };
  const reasoning = "The user wants the weather in Paris, so I call the tool.";
  const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
  const messages = [{ role: "user", content: "weather in Paris?" }];
  const answer = JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: null,
        reasoning_content: reasoning,
        tool_calls: [{ id: "call_1", type: "function", function: call }],
      },
      finish_reason: "tool_calls",
    }],
  });
  const ask = (stream: boolean) => (app: ReturnType<typeof createApp>, apiKey: string) =>
    app.request("http://control.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "m",
        messages,
        tools,
        stream,
        stream_options: stream ? { include_usage: true } : undefined,
      }),
    });
  const prompt = countChatPromptTokens(messages, tools);
  assert.ok(prompt > countChatPromptTokens(messages), "the tools' definitions count");
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body: answer }],
    async (app, apiKey) => {
      const res = await ask(false)(app, apiKey);
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      // No usage from the engine: both counts are ours, and the answer had no content at all.
      assert.equal(body.usage.prompt_tokens, prompt);
      assert.equal(
        body.usage.completion_tokens,
        countText(reasoning) + countText(call.name) + countText(call.arguments) + TOOL_CALL_TOKENS,
      );
    },
  );
  // The same call streamed in pieces, as vLLM sends it.
  const pieces = ['{"city": ', '"Paris", ', '"unit": "celsius"}'];
  await withScriptedNode(
    (id) => [{
      type: "chunks",
      job_id: id,
      data: [
        chunk({ role: "assistant", reasoning_content: reasoning }),
        chunk({
          tool_calls: [{
            index: 0,
            id: "call_1",
            type: "function",
            function: { name: call.name, arguments: "" },
          }],
        }),
        ...pieces.map((p) => chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] })),
        chunk({}, "tool_calls"),
      ],
    }, { type: "end", job_id: id }],
    async (app, apiKey) => {
      const text = await (await ask(true)(app, apiKey)).text();
      const usage = text.split("\n\n").map((e) => e.slice("data: ".length)).filter((d) => d.startsWith("{"))
        .map((d) => JSON.parse(d)).find((c) => c.usage)?.usage;
      assert.equal(usage?.prompt_tokens, prompt, text);
      assert.equal(
        usage?.completion_tokens,
        countText(reasoning) + countText(call.name) + pieces.reduce((n, p) => n + countText(p), 0) +
          TOOL_CALL_TOKENS,
      );
    },
  );
});
