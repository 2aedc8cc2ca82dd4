// Jobs never hang: a stream that goes silent is failed, and a job past its deadline is reaped
// through the KV queue — the consumer gets an error event, the node is told to stop, the row says why.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { findJob } from "../db/mod.ts";
import { startNetwork, type TestNetwork } from "../testing/network.ts";
import { sleep } from "../shared/mod.ts";

async function streamUntilError(net: TestNetwork): Promise<{ text: string; err: unknown; jobId: string }> {
  const client = new OpenAI({ baseURL: `${net.url}/v1`, apiKey: net.apiKey, maxRetries: 0 });
  const { data: stream, response } = await client.chat.completions.create({
    model: "infernet-test-echo",
    messages: [{ role: "user", content: "one two three four five six" }],
    stream: true,
  }).withResponse();
  let text = "";
  let err: unknown = null;
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  } catch (e) {
    err = e;
  }
  return { text, err, jobId: response.headers.get("x-infernet-job-id")! };
}

async function row(net: TestNetwork, id: string) {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    await Promise.allSettled([...net.cp.runDeps.pending]);
    await net.cp.recorder.flush();
    const r = await findJob(net.cp.db.sql, id);
    if (r) return r;
    await sleep(50);
  }
  return null;
}

async function engineSawAbort(net: TestNetwork): Promise<boolean> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    if (net.engines[0].events.some((e) => e.type === "abort")) return true;
    await sleep(20);
  }
  return false;
}

Deno.test("e2e - a stream that goes silent mid-way ends in an error, and the engine is stopped", async () => {
  const net = await startNetwork({ engines: [{ tokenDelayMs: 5000 }], config: { streamIdleTimeoutMs: 400 } });
  try {
    const t0 = Date.now();
    const { err, jobId } = await streamUntilError(net);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.match((err as Error).message, /sent nothing for 400 ms/);
    assert.ok(Date.now() - t0 < 4000);
    assert.ok(await engineSawAbort(net), "the engine request was cut");
    const r = await row(net, jobId);
    assert.equal(r?.status, "failed");
    assert.equal(r?.errorCode, "node_timeout");
  } finally {
    await net.close();
  }
});

Deno.test("e2e - a job past its deadline is reaped through the KV queue", async () => {
  const net = await startNetwork({ engines: [{ tokenDelayMs: 300 }], config: { jobTimeoutMs: 700 } });
  try {
    const { text, err, jobId } = await streamUntilError(net);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.match((err as Error).message, /job timed out/);
    assert.ok(text.length > 0 && text !== "Echo: one two three four five six", "stopped part-way");
    assert.ok(await engineSawAbort(net), "the engine request was cut");
    const r = await row(net, jobId);
    assert.equal(r?.status, "timeout");
    assert.equal(await net.cp.jobs.get(jobId), null, "the reaped job left KV");
  } finally {
    await net.close();
  }
});
