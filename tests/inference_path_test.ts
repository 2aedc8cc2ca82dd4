// End to end, every hop real: the official `openai` SDK → control plane (HTTP) → `infernet
// start` daemon process (job socket) → test engine (HTTP) and back.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { findJob } from "../db/mod.ts";
import { countText } from "../web/metering/count_tokens.ts";
import { startNetwork, type TestNetwork } from "../testing/network.ts";
import { sleep } from "../shared/mod.ts";

function client(net: TestNetwork, apiKey = net.apiKey): OpenAI {
  return new OpenAI({ baseURL: `${net.url}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
}

async function withNetwork(
  opts: Parameters<typeof startNetwork>[0],
  fn: (net: TestNetwork) => Promise<void>,
): Promise<void> {
  const net = await startNetwork(opts);
  try {
    await fn(net);
  } catch (err) {
    for (const n of net.nodes) console.error(`--- node ${n.pubkey.slice(0, 8)} stderr ---\n${n.stderr()}`);
    throw err;
  } finally {
    await net.close();
  }
}

/** Waits until the job rows are written (the recorder batches them off the request path). */
async function jobRow(net: TestNetwork, id: string) {
  await Promise.allSettled([...net.cp.runDeps.pending]);
  await net.cp.recorder.flush();
  return await findJob(net.cp.db.sql, id);
}

const ask = [{ role: "user" as const, content: "hello infernet world" }];

Deno.test("e2e - non-streamed chat completion with usage, and a job row without the prompt", async () => {
  await withNetwork({}, async (net) => {
    const { data, response } = await client(net).chat.completions
      .create(
        {
          model: "infernet-test-echo",
          messages: ask,
          seed: 7,
          top_k: 3,
        } as OpenAI.ChatCompletionCreateParamsNonStreaming,
      )
      .withResponse();
    // Fields we do not know (top_k) pass through to the engine untouched; without max_tokens the
    // engine is asked for the default allowance, which is what was held for the job.
    assert.deepEqual(net.engines[0].events.find((e) => e.type === "request")?.fields, [
      "max_tokens",
      "messages",
      "model",
      "seed",
      "top_k",
    ]);
    assert.equal(data.object, "chat.completion");
    assert.equal(data.choices[0].message.content, "Echo: hello infernet world");
    assert.equal(data.choices[0].finish_reason, "stop");
    assert.deepEqual(data.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    const jobId = response.headers.get("x-infernet-job-id")!;
    assert.equal(response.headers.get("x-infernet-node"), net.nodes[0].pubkey);
    const row = await jobRow(net, jobId);
    assert.equal(row?.status, "completed");
    assert.equal(row?.nodePubkey, net.nodes[0].pubkey);
    assert.equal(row?.enginePromptTokens, 3);
    assert.equal(row?.completionTokens, 4);
    // Our own count is recorded beside the engine's, for the cross-check.
    assert.ok((row?.countedPromptTokens ?? 0) > 0);
    assert.equal(row?.countedCompletionTokens, countText("Echo: hello infernet world"));
    const raw = JSON.stringify(
      await net.cp.db.sql`select * from jobs`,
      (_k, v) => typeof v === "bigint" ? String(v) : v,
    );
    assert.ok(!raw.includes("infernet world"), "no prompt or output is stored");
  });
});

Deno.test("e2e - streamed chat completion ends with a usage chunk and [DONE]", async () => {
  await withNetwork({}, async (net) => {
    const stream = await client(net).chat.completions.create({
      model: "infernet-test-echo",
      messages: ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, "Echo: hello infernet world");
    assert.deepEqual(usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    assert.ok(chunks >= 6);
    // Raw framing: `data: {...}\n\n` frames and a final `data: [DONE]`.
    const res = await fetch(`${net.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${net.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "infernet-test-echo", messages: ask, stream: true }),
    });
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const body = await res.text();
    assert.ok(body.endsWith("data: [DONE]\n\n"));
    for (const frame of body.trim().split("\n\n")) assert.match(frame, /^data: /);
    assert.ok(!body.includes('"choices":[]'), "no usage chunk unless asked for");
  });
});

Deno.test("e2e - an engine that reports no usage still yields usage (our own count)", async () => {
  await withNetwork({ engines: [{ usage: false }] }, async (net) => {
    const done = await client(net).chat.completions.create({ model: "infernet-test-echo", messages: ask });
    assert.ok(done.usage && done.usage.prompt_tokens > 0 && done.usage.completion_tokens > 0);
    const stream = await client(net).chat.completions.create({
      model: "infernet-test-echo",
      messages: ask,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.ok(
      usage && usage.completion_tokens > 0 &&
        usage.total_tokens === usage.prompt_tokens + usage.completion_tokens,
    );
  });
});

Deno.test("e2e - models list, embeddings, bad key 401, unknown model 404, bad request 400", async () => {
  await withNetwork({}, async (net) => {
    const models = await client(net).models.list();
    const m = models.data.find((x) => x.id === "infernet-test-echo") as unknown as Record<string, unknown>;
    assert.ok(m, "the served model is listed");
    assert.equal(m.owned_by, "infernet-test-engine");
    assert.deepEqual(m.pricing, {
      prompt_per_1k_tokens_usd: "0.0002",
      completion_per_1k_tokens_usd: "0.0006",
    });
    // OpenAI's retrieve: the same object as in the list; an unknown model is the SDK's NotFoundError.
    assert.deepEqual(await client(net).models.retrieve("infernet-test-echo"), m);
    await assert.rejects(
      client(net).models.retrieve("no/such-model"),
      (err) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found",
    );
    const emb = await client(net).embeddings.create({ model: "infernet-test-echo", input: ["a", "b"] });
    assert.equal(emb.data.length, 2);
    assert.equal(emb.data[0].embedding.length, 8);
    assert.ok(emb.usage.prompt_tokens > 0);
    // The SDK asks for base64 unless told otherwise and decodes float32s: the same vectors as floats,
    // at float32 precision. The engine is asked for numbers either way (llama.cpp-based engines, the
    // built-in one too, refuse base64).
    const floats = await client(net).embeddings.create({
      model: "infernet-test-echo",
      input: ["a", "b"],
      encoding_format: "float",
    });
    assert.deepEqual(emb.data.map((d) => d.embedding), floats.data.map((d) => d.embedding.map(Math.fround)));
    const embeddingRequests = net.engines[0].events.filter((e) =>
      e.type === "request" && e.path.endsWith("/embeddings")
    );
    assert.equal(embeddingRequests.length, 2);
    for (const r of embeddingRequests) assert.ok(!r.fields!.includes("encoding_format"), r.fields!.join());
    const wrong = await fetch(`${net.url}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${net.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "infernet-test-echo", input: "a", encoding_format: "int8" }),
    });
    const wrongError = (await wrong.json()).error;
    assert.deepEqual([wrong.status, wrongError.param], [400, "encoding_format"]);

    await assert.rejects(
      client(net, "inf_wrongwrongwrongwrong").chat.completions.create({
        model: "infernet-test-echo",
        messages: ask,
      }),
      (err: unknown) => err instanceof OpenAI.AuthenticationError && err.code === "invalid_api_key",
    );
    await assert.rejects(
      client(net).chat.completions.create({ model: "no-such-model", messages: ask }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found",
    );
    await assert.rejects(
      client(net).chat.completions.create({ model: "infernet-test-echo", messages: [] }),
      (err: unknown) =>
        err instanceof OpenAI.BadRequestError &&
        (err as InstanceType<typeof OpenAI.APIError>).param === "messages",
    );
  });
});

Deno.test("e2e - a prompt longer than the context window: 400 context_length_exceeded, from us or the engine", async () => {
  await withNetwork({ engines: [{ contextLength: 2048 }] }, async (net) => {
    // The daemon read the window from the engine (vLLM's max_model_len) and advertised it.
    const models = await client(net).models.list();
    const m = models.data.find((x) => x.id === "infernet-test-echo") as unknown as Record<string, unknown>;
    assert.equal(m.context_length, 2048);
    const tooLong = (err: unknown) =>
      err instanceof OpenAI.BadRequestError && err.code === "context_length_exceeded" &&
      (err as InstanceType<typeof OpenAI.APIError>).param === "messages";
    // 2,200 words: over the window by the engine's count, not surely over by ours (tokenizers
    // differ), so the engine judges it, and its 400 reaches the consumer.
    await assert.rejects(
      client(net).chat.completions.create({
        model: "infernet-test-echo",
        messages: [{ role: "user", content: "hello ".repeat(2_200) }],
      }),
      (err: unknown) => tooLong(err) && /resulted in 2200 tokens/.test((err as Error).message),
    );
    assert.equal(net.engines[0].events.filter((e) => e.type === "request").length, 1);
    // 40,000 words: past any count under the window. Refused before it is held or sent.
    let refused: InstanceType<typeof OpenAI.APIError> | undefined;
    await assert.rejects(
      client(net).chat.completions.create({
        model: "infernet-test-echo",
        messages: [{ role: "user", content: "hello ".repeat(40_000) }],
      }),
      (err: unknown) => {
        refused = err as InstanceType<typeof OpenAI.APIError>;
        return tooLong(err) && /maximum context length is 2048 tokens/.test((err as Error).message);
      },
    );
    assert.equal(
      net.engines[0].events.filter((e) => e.type === "request").length,
      1,
      "the engine never saw it",
    );
    // The SDK's request id of the refusal is its job's: the row says why.
    const row = await jobRow(net, refused?.requestID ?? "");
    assert.equal(row?.status, "rejected");
    assert.equal(row?.errorCode, "context_length_exceeded");
    // A prompt inside the window is served as ever, and its request id is its job's too.
    const ok = await client(net).chat.completions.create({ model: "infernet-test-echo", messages: ask })
      .withResponse();
    assert.equal(ok.data.choices[0].message.content, "Echo: hello infernet world");
    assert.equal(ok.request_id, ok.response.headers.get("x-infernet-job-id"));
    assert.equal((await jobRow(net, ok.request_id!))?.status, "completed");
  });
});

Deno.test("e2e - the engine dying mid-stream gives the consumer an error, not a hang", async () => {
  await withNetwork({ engines: [{ failure: "die_mid_stream", dieAfterTokens: 2 }] }, async (net) => {
    const stream = await client(net).chat.completions.create({
      model: "infernet-test-echo",
      messages: ask,
      stream: true,
    });
    let text = "";
    const t0 = Date.now();
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    }, (err: unknown) => err instanceof OpenAI.APIError && /mid-stream/.test(err.message));
    assert.equal(text, "Echo: hello ");
    assert.ok(Date.now() - t0 < 5000);
    await Promise.allSettled([...net.cp.runDeps.pending]);
    assert.equal(net.cp.registry.get(net.nodes[0].pubkey)?.stats.failures, 1);
  });
});

Deno.test("e2e - a client abort reaches the engine within 100 ms and bills only delivered tokens", async () => {
  await withNetwork({ engines: [{ tokenDelayMs: 200 }] }, async (net) => {
    const ctrl = new AbortController();
    const stream = await client(net).chat.completions.create(
      { model: "infernet-test-echo", messages: ask, stream: true },
      { signal: ctrl.signal },
    );
    let abortedAt = 0;
    let pieces = 0;
    let received = "";
    // The SDK may end the iteration quietly or throw an abort error; either way the client is gone.
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content) {
          pieces++;
          received += chunk.choices[0].delta.content;
        }
        if (pieces === 2 && !abortedAt) {
          abortedAt = performance.timeOrigin + performance.now();
          ctrl.abort();
        }
      }
    } catch (err) {
      assert.ok(err instanceof OpenAI.APIUserAbortError, String(err));
    }
    assert.ok(abortedAt > 0);
    const deadline = Date.now() + 2000;
    let abort;
    while (!(abort = net.engines[0].events.find((e) => e.type === "abort")) && Date.now() < deadline) {
      await sleep(5);
    }
    assert.ok(abort, "the engine saw the abort");
    const lagMs = abort.atMs - abortedAt;
    assert.ok(lagMs < 100, `engine saw the abort ${lagMs.toFixed(1)} ms after the client`);
    assert.ok(!net.engines[0].events.some((e) => e.type === "complete"));
    const jobId = abort.requestId;
    const row = await jobRow(net, jobId);
    assert.equal(row?.status, "cancelled");
    // The engine never reported usage (cut before its usage chunk): we bill our count of what was delivered.
    assert.equal(received, "Echo: hello ");
    assert.equal(row?.engineCompletionTokens, null);
    assert.equal(row?.completionTokens, countText(received));
    assert.ok(row!.completionTokens < countText("Echo: hello infernet world"));
  });
});

Deno.test("e2e - two nodes: the first refuses, the second answers, invisibly", async () => {
  await withNetwork({ engines: [{ failure: "refuse" }, {}] }, async (net) => {
    const [refuser, good] = net.nodes;
    // OpenRouter-style routing preferences, an Infernet extension the SDK passes through.
    const route = { provider: { order: [refuser.pubkey] } };
    const { data, response } = await client(net).chat.completions.create({
      model: "infernet-test-echo",
      messages: ask,
      ...route,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming).withResponse();
    assert.equal(data.choices[0].message.content, "Echo: hello infernet world");
    assert.equal(response.headers.get("x-infernet-node"), good.pubkey);
    assert.ok(net.engines[0].events.some((e) => e.type === "request"), "the first node was tried");
    // Our routing preferences never reach an engine; everything else in the body does.
    const sent = net.engines[1].events.find((e) => e.type === "request")!;
    assert.deepEqual(sent.fields, ["max_tokens", "messages", "model"]);
    const row = await jobRow(net, response.headers.get("x-infernet-job-id")!);
    assert.equal(row?.attempts, 2);
    assert.equal(row?.status, "completed");
    // Streamed too: the failure before the first token stays invisible.
    const stream = await client(net).chat.completions.create({
      model: "infernet-test-echo",
      messages: ask,
      stream: true,
      ...route,
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    assert.equal(text, "Echo: hello infernet world");
  });
});

Deno.test("e2e - no live node for a served model answers 503; a hung node is skipped", async () => {
  await withNetwork({ engines: [{ failure: "hang" }], config: { firstTokenTimeoutMs: 300 } }, async (net) => {
    const t0 = Date.now();
    await assert.rejects(
      client(net).chat.completions.create({ model: "infernet-test-echo", messages: ask }),
      (err: unknown) =>
        err instanceof OpenAI.APIError && err.status === 503 && err.code === "no_node_available",
    );
    assert.ok(Date.now() - t0 < 3000);
  });
});

Deno.test("e2e - a non-streamed request the client abandons is cancelled at the engine", async () => {
  await withNetwork({ engines: [{ failure: "hang" }] }, async (net) => {
    // The official SDK on Node, as most consumers run it. (Under Deno, the SDK's abort of a
    // pending non-streamed request rejects the promise but leaves the connection open, so the
    // server cannot see it; plain fetch in Deno does close it.)
    const consumer = `
      const OpenAI = require("openai").default;
      const c = new OpenAI({ baseURL: process.argv[1] + "/v1", apiKey: process.argv[2], maxRetries: 0 });
      const ctrl = new AbortController();
      const p = c.chat.completions.create(
        { model: "infernet-test-echo", messages: [{ role: "user", content: "wait" }] },
        { signal: ctrl.signal },
      ).then(() => "answered", (e) => e.constructor.name);
      process.stdin.once("data", async () => {
        const leftAt = performance.timeOrigin + performance.now();
        ctrl.abort();
        console.log(JSON.stringify({ leftAt, outcome: await p }));
      });`;
    const node = new Deno.Command("node", {
      args: ["-e", consumer, net.url, net.apiKey],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const deadline = Date.now() + 10_000;
    while (!net.engines[0].events.some((e) => e.type === "request") && Date.now() < deadline) {
      await sleep(10);
    }
    const writer = node.stdin.getWriter();
    await writer.write(new TextEncoder().encode("leave\n"));
    await writer.close();
    const { leftAt, outcome } = JSON.parse(new TextDecoder().decode((await node.output()).stdout));
    assert.equal(outcome, "APIUserAbortError");
    let abort;
    while (!(abort = net.engines[0].events.find((e) => e.type === "abort")) && Date.now() < deadline) {
      await sleep(5);
    }
    assert.ok(abort, "the engine saw the abort");
    assert.ok(abort.atMs - leftAt < 100, `engine saw the abort ${(abort.atMs - leftAt).toFixed(1)} ms later`);
    const row = await jobRow(net, abort.requestId);
    assert.equal(row?.status, "cancelled");
    assert.equal(row?.completionTokens, 0);
  });
});
