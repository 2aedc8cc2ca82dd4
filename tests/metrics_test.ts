// End to end: /v1 requests from the official `openai` SDK through a real `infernet start` daemon
// and test engine, then GET /metrics over HTTP with the token, read as Prometheus reads it.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startNetwork } from "../testing/network.ts";
import { parsePrometheusText, sampleValue } from "../testing/prometheus_text.ts";

const TOKEN = "e2e-metrics-token-0123456789";

Deno.test("e2e - /metrics counts real /v1 requests, tokens and the live node, behind its token", async () => {
  const net = await startNetwork({ config: { metricsToken: TOKEN } });
  try {
    const scrape = async (authorization?: string) => {
      const res = await fetch(`${net.url}/metrics`, { headers: authorization ? { authorization } : {} });
      return { status: res.status, text: await res.text() };
    };
    assert.equal((await scrape()).status, 401);
    assert.equal((await scrape("Bearer not-the-token-0123456789")).status, 401);

    const client = new OpenAI({
      baseURL: `${net.url}/v1`,
      apiKey: net.apiKey,
      maxRetries: 0,
      timeout: 20_000,
    });
    const messages = [{ role: "user" as const, content: "hello infernet world" }];
    let prompt = 0;
    let completion = 0;
    for (let i = 0; i < 3; i++) {
      const done = await client.chat.completions.create({ model: "infernet-test-echo", messages });
      prompt += done.usage!.prompt_tokens;
      completion += done.usage!.completion_tokens;
    }
    const stream = await client.chat.completions.create({
      model: "infernet-test-echo",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      if (chunk.usage) {
        prompt += chunk.usage.prompt_tokens;
        completion += chunk.usage.completion_tokens;
      }
    }
    await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages }));
    await Promise.allSettled([...net.cp.runDeps.pending]);
    await net.cp.recorder.flush();

    const { status, text } = await scrape(`Bearer ${TOKEN}`);
    assert.equal(status, 200);
    const s = parsePrometheusText(text);
    const route = "/v1/chat/completions";
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route, method: "POST", status: "200" }), 4);
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route, method: "POST", status: "404" }), 1);
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route: "/metrics", status: "401" }), 2);
    assert.equal(sampleValue(s, "infernet_v1_jobs_total", { stream: "false", status: "completed" }), 3);
    assert.equal(sampleValue(s, "infernet_v1_jobs_total", { stream: "true", status: "completed" }), 1);
    assert.equal(sampleValue(s, "infernet_v1_time_to_first_token_seconds_count", { stream: "false" }), 3);
    assert.equal(sampleValue(s, "infernet_v1_control_plane_seconds_count", { stream: "true" }), 1);
    assert.equal(
      sampleValue(s, "infernet_v1_job_duration_seconds_count", { stream: "true", status: "completed" }),
      1,
    );
    assert.equal(sampleValue(s, "infernet_tokens_total", { kind: "chat", type: "prompt" }), prompt);
    assert.equal(sampleValue(s, "infernet_tokens_total", { kind: "chat", type: "completion" }), completion);
    assert.equal(sampleValue(s, "infernet_settlement_batch_jobs_sum"), 4);
    assert.equal(sampleValue(s, "infernet_jobs_in_flight"), 0);
    const tier = net.cp.registry.get(net.nodes[0].pubkey)!.record.vramTier;
    assert.equal(sampleValue(s, "infernet_nodes_live", { tier }), 1);
    assert.equal(s.filter((x) => x.name === "infernet_nodes_live").reduce((n, x) => n + x.value, 0), 1);
  } finally {
    await net.close();
  }
});
