// GET /metrics in-process: requests counted under their route patterns, /v1 jobs through a
// scripted node on a real NodeConnection, the scrape-time gauges, the token, the format.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createLogger, createNodeRecord, type NodeFrame, verifyNodeRecord } from "../../shared/mod.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";
import { openTestControlPlane, type TestControlPlane } from "../../testing/control_plane.ts";
import { parsePrometheusText, type Sample, sampleValue } from "../../testing/prometheus_text.ts";
import { createApp } from "../app.ts";
import { NodeConnection } from "../dispatch/node_connection.ts";
import { hasBearerToken } from "./metrics_route.ts";
import { routeLabel } from "./metrics.ts";

type App = ReturnType<typeof createApp>;
const TOKEN = "metrics-token-0123456789";

/** A control plane with one registered node whose answers `script` writes (after `delayMs`). */
async function withScriptedNode(
  script: (jobId: string) => NodeFrame[],
  fn: (app: App, t: TestControlPlane) => Promise<void>,
  opts: { delayMs?: number; metricsToken?: string } = {},
) {
  const t = await openTestControlPlane({ config: { metricsToken: opts.metricsToken ?? null } });
  try {
    const sk = generateSecretKey();
    const record = verifyNodeRecord(createNodeRecord(
      sk,
      sampleAdvert({
        gpus: [{ name: "NVIDIA GeForce RTX 4070", vramMb: 12_282, vendor: "nvidia" }],
        totalVramMb: 12_282,
        vramTier: "medium",
      }),
    ));
    assert.ok(record.ok);
    await t.cp.registry.register(record.record);
    const conn: NodeConnection = new NodeConnection(getPublicKey(sk), {
      send(text) {
        const frame = JSON.parse(text);
        if (frame.type !== "job") return;
        const answer = () => {
          for (const f of script(frame.job_id)) conn.handleFrame(f);
        };
        if (opts.delayMs) setTimeout(answer, opts.delayMs);
        else queueMicrotask(answer);
      },
      close() {},
    }, createLogger({ level: "silent" }));
    t.cp.registry.attach(getPublicKey(sk), conn);
    await fn(createApp(t.cp), t);
  } finally {
    await t.close();
  }
}

const answer = (id: string) =>
  JSON.stringify({
    id,
    object: "chat.completion",
    created: 1,
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 },
  });

const chunk = (delta: Record<string, unknown>, usage?: unknown) =>
  JSON.stringify({
    id: "c",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: usage ? [] : [{ index: 0, delta, finish_reason: null }],
    ...(usage ? { usage } : {}),
  });

function chat(app: App, apiKey: string | null, body: Record<string, unknown>) {
  return Promise.resolve(app.request("http://control.test/v1/chat/completions", {
    method: "POST",
    headers: { ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}), "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...body }),
  }));
}

async function scrape(app: App, token?: string): Promise<Sample[]> {
  const res = await app.request("http://control.test/metrics", {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

Deno.test("metrics - /v1 jobs move the job, latency and token metrics by the right amounts", async () => {
  // The node streams when the request asked for it (requests go one at a time).
  let streamed = false;
  await withScriptedNode(
    (id) =>
      streamed
        ? [
          { type: "chunks", job_id: id, data: [chunk({ role: "assistant", content: "Hel" })] },
          { type: "chunks", job_id: id, data: [chunk({ content: "lo" })] },
          {
            type: "chunks",
            job_id: id,
            data: [chunk({}, { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 })],
          },
          { type: "end", job_id: id },
        ]
        : [{ type: "response", job_id: id, status: 200, body: answer(id) }],
    async (app, t) => {
      const before = await scrape(app);
      assert.equal(sampleValue(before, "infernet_v1_jobs_total"), 0);
      for (let i = 0; i < 2; i++) {
        const res = await chat(app, t.apiKey, {});
        assert.equal(res.status, 200);
        await res.text();
      }
      streamed = true;
      const res = await chat(app, t.apiKey, { stream: true });
      assert.equal(res.status, 200);
      await res.text();
      await t.cp.recorder.flush();

      const s = await scrape(app);
      const nonStream = { kind: "chat", stream: "false" };
      const stream = { kind: "chat", stream: "true" };
      assert.equal(sampleValue(s, "infernet_v1_jobs_total", { ...nonStream, status: "completed" }), 2);
      assert.equal(sampleValue(s, "infernet_v1_jobs_total", { ...stream, status: "completed" }), 1);
      for (const [labels, n] of [[nonStream, 2], [stream, 1]] as const) {
        assert.equal(sampleValue(s, "infernet_v1_control_plane_seconds_count", labels), n);
        assert.equal(sampleValue(s, "infernet_v1_node_seconds_count", labels), n);
        assert.equal(sampleValue(s, "infernet_v1_time_to_first_token_seconds_count", labels), n);
        assert.equal(
          sampleValue(s, "infernet_v1_job_duration_seconds_count", { ...labels, status: "completed" }),
          n,
        );
        // Each answer took well under 10 s and its control-plane share was positive.
        assert.equal(
          sampleValue(s, "infernet_v1_job_duration_seconds_bucket", {
            ...labels,
            status: "completed",
            le: "10",
          }),
          n,
        );
        assert.ok(sampleValue(s, "infernet_v1_control_plane_seconds_sum", labels) > 0);
      }
      // Usage as the engine reported it: 2 × (11 + 5) non-streamed, 7 + 2 streamed.
      assert.equal(sampleValue(s, "infernet_tokens_total", { kind: "chat", type: "prompt" }), 2 * 11 + 7);
      assert.equal(sampleValue(s, "infernet_tokens_total", { kind: "chat", type: "completion" }), 2 * 5 + 2);
      // The three settlements were committed in batches that add up to three jobs.
      assert.equal(sampleValue(s, "infernet_settlement_batch_jobs_sum"), 3);
      const batches = sampleValue(s, "infernet_settlement_batch_jobs_count");
      assert.ok(batches >= 1 && batches <= 3);
      assert.equal(sampleValue(s, "infernet_settlement_lag_seconds_count"), batches);
      assert.equal(sampleValue(s, "infernet_settlement_commit_seconds_count"), batches);
      assert.equal(sampleValue(s, "infernet_settlement_queued_jobs"), 0);
      assert.equal(sampleValue(s, "infernet_journal_pending_jobs"), 0);
      // Counted under the route's pattern, with the status each answer had.
      assert.equal(
        sampleValue(s, "infernet_http_requests_total", {
          route: "/v1/chat/completions",
          method: "POST",
          status: "200",
        }),
        3,
      );
    },
  );
});

Deno.test("metrics - jobs in flight and live nodes by tier are read when scraped", async () => {
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body: answer(id) }],
    async (app, t) => {
      const idle = await scrape(app);
      assert.equal(sampleValue(idle, "infernet_jobs_in_flight"), 0);
      assert.equal(sampleValue(idle, "infernet_nodes_live", { tier: "medium" }), 1);
      assert.equal(sampleValue(idle, "infernet_nodes_live", { tier: "nano" }), 0);
      assert.equal(sampleValue(idle, "infernet_nodes_registered"), 1);
      assert.equal(sampleValue(idle, "infernet_db_pool_max_connections", { database: "pglite" }), 1);

      const answered = chat(app, t.apiKey, {});
      // The node answers after 300 ms: meanwhile the job is in flight.
      const deadline = Date.now() + 5000;
      while (t.cp.runDeps.active.size === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      const busy = await scrape(app);
      assert.equal(sampleValue(busy, "infernet_jobs_in_flight"), 1);
      await (await answered).text();
      assert.equal(sampleValue(await scrape(app), "infernet_jobs_in_flight"), 0);

      // A node whose heartbeat is stale is no longer live, though still registered.
      for (const node of t.cp.registry.all()) node.lastHeartbeatAt = Date.now() - t.cp.config.nodeStaleMs - 1;
      const stale = await scrape(app);
      assert.equal(sampleValue(stale, "infernet_nodes_live", { tier: "medium" }), 0);
      assert.equal(sampleValue(stale, "infernet_nodes_registered"), 1);
    },
    { delayMs: 300 },
  );
});

Deno.test("metrics - requests are counted under route patterns, never raw paths", async () => {
  await withScriptedNode(() => [], async (app, t) => {
    const pubkey = t.cp.registry.all()[0].record.pubkey;
    for (const path of [`/api/nodes/${pubkey}`, "/api/nodes/0000", "/no/such/page", "/no/such/other"]) {
      await (await app.request(`http://control.test${path}`)).text();
    }
    await (await chat(app, null, {})).text(); // no key: 401 from the /v1 middleware
    await (await chat(app, "sk-wrong", {})).text();
    await (await app.request("http://control.test/v1/nope")).text();
    await (await app.request("http://control.test/health", { method: "BREW" })).text();
    const s = await scrape(app);
    const requests = s.filter((x) => x.name === "infernet_http_requests_total");
    const routes = new Set(requests.map((x) => x.labels.route));
    assert.ok(![...routes].some((r) => r.includes(pubkey) || r.includes("0000") || r.includes("such")));
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route: "/api/nodes/*", status: "200" }), 1);
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route: "/api/nodes/*", status: "404" }), 1);
    assert.equal(
      sampleValue(s, "infernet_http_requests_total", { route: "/v1/chat/completions", status: "401" }),
      2,
    );
    assert.equal(
      sampleValue(s, "infernet_http_requests_total", { route: "unmatched", method: "GET", status: "404" }),
      2,
    );
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route: "unmatched", method: "other" }), 1);
    // The scrape counts itself after it has answered: the next one shows it.
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route: "/metrics" }), 0);
    assert.equal(sampleValue(await scrape(app), "infernet_http_requests_total", { route: "/metrics" }), 1);
  });
});

Deno.test("metrics - with a token set, /metrics answers 401 without it or with another, 200 with it", async () => {
  await withScriptedNode(() => [], async (app) => {
    for (
      const authorization of [null, "Bearer wrong-token-0123456789", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]
    ) {
      const res = await app.request("http://control.test/metrics", {
        headers: authorization ? { authorization } : {},
      });
      assert.equal(res.status, 401, `${authorization}`);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="metrics"');
      assert.equal((await res.json()).error.code, "invalid_api_key");
    }
    const s = await scrape(app, TOKEN);
    assert.equal(sampleValue(s, "infernet_http_requests_total", { route: "/metrics", status: "401" }), 4);
  }, { metricsToken: TOKEN });
});

Deno.test("metrics - without a token, /metrics is open", async () => {
  await withScriptedNode(() => [], async (app) => {
    assert.equal((await scrape(app)).length > 0, true);
  });
});

Deno.test("metrics - every line of the exposition is a comment or a well-formed sample", async () => {
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body: answer(id) }],
    async (app, t) => {
      await (await chat(app, t.apiKey, {})).text();
      const res = await app.request("http://control.test/metrics");
      const text = await res.text();
      const samples = parsePrometheusText(text);
      // Every family is declared, and its samples follow its declaration.
      const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]);
      assert.equal(new Set(types).size, types.length);
      for (const s of samples) {
        assert.ok(
          types.some((t) => s.name === t || s.name.match(/^(.*)_(bucket|sum|count)$/)?.[1] === t),
          s.name,
        );
      }
      assert.throws(() => parsePrometheusText("metric{a=b} 1"));
      assert.throws(() => parsePrometheusText("metric 1 2 3"));
    },
  );
});

Deno.test("metrics - the bearer token is compared whole", () => {
  assert.equal(hasBearerToken(`Bearer ${TOKEN}`, TOKEN), true);
  assert.equal(hasBearerToken(`bearer ${TOKEN}`, TOKEN), true);
  assert.equal(hasBearerToken(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN), false);
  assert.equal(hasBearerToken(`Bearer ${TOKEN} extra`, TOKEN), false);
  assert.equal(hasBearerToken(undefined, TOKEN), false);
  assert.equal(hasBearerToken("", TOKEN), false);
});

Deno.test("metrics - a route label is the route that answered, or the endpoint a middleware guarded", () => {
  const routes = [
    { method: "ALL", path: "*" },
    { method: "ALL", path: "/v1/*" },
    { method: "POST", path: "/v1/chat/completions" },
  ];
  assert.equal(routeLabel(routes, 2), "/v1/chat/completions");
  assert.equal(routeLabel(routes, 1), "/v1/chat/completions");
  assert.equal(routeLabel(routes.slice(0, 2), 1), "unmatched");
});

Deno.test("metrics - a job reaped after its instance forgot it is counted as timed out", async () => {
  const t = await openTestControlPlane({ config: { jobTimeoutMs: 50 } });
  try {
    const app = createApp(t.cp);
    // A running job in KV with no run on this instance: what a crashed predecessor leaves.
    const written = await t.cp.jobs.start({
      id: "job_left_running",
      kind: "chat",
      model: "m",
      stream: true,
      apiKeyId: null,
      nodePubkey: null,
      status: "running",
      createdAt: Date.now(),
      finishedAt: null,
    }, 50);
    assert.ok(written);
    const timedOut = { kind: "chat", stream: "true", status: "timeout" };
    const deadline = Date.now() + 15_000;
    while (
      sampleValue(await scrape(app), "infernet_v1_jobs_total", timedOut) === 0 && Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const s = await scrape(app);
    assert.equal(sampleValue(s, "infernet_v1_jobs_total", timedOut), 1);
    assert.equal(sampleValue(s, "infernet_v1_job_duration_seconds_count", timedOut), 1);
  } finally {
    await t.close();
  }
});
