// The router's rules as a consumer meets them through /v1: suspected nodes, require_parameters.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import {
  createLogger,
  createNodeRecord,
  type NodeModel,
  parseProviderPrefs,
  verifyNodeRecord,
} from "../../../shared/mod.ts";
import { openTestControlPlane } from "../../../testing/control_plane.ts";
import { sampleAdvert } from "../../../testing/node_advert.ts";
import { createApp } from "../../app.ts";
import { NodeConnection } from "../../dispatch/node_connection.ts";
import { priorReputation } from "../../registry/node_registry.ts";
import { routeJob } from "./job_route.ts";

const answer = JSON.stringify({
  id: "c",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "Hi" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
});

/** A control plane with one connected node serving "m" as `model` says, answering every job. */
async function withNode(
  model: Partial<NodeModel>,
  run: (t: Awaited<ReturnType<typeof openTestControlPlane>>, pubkey: string) => Promise<void>,
): Promise<void> {
  const t = await openTestControlPlane();
  try {
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    const models = [{
      id: "m",
      contextLength: 4096,
      promptPricePer1k: 1000,
      completionPricePer1k: 1000,
      ...model,
    }];
    const record = verifyNodeRecord(createNodeRecord(sk, sampleAdvert({ models })));
    if (!record.ok) throw new Error(record.reason);
    await t.cp.registry.register(record.record);
    const conn: NodeConnection = new NodeConnection(pubkey, {
      send(text) {
        const frame = JSON.parse(text);
        if (frame.type !== "job") return;
        queueMicrotask(() =>
          conn.handleFrame({ type: "response", job_id: frame.job_id, status: 200, body: answer })
        );
      },
      close() {},
    }, createLogger({ level: "silent" }));
    t.cp.registry.attach(pubkey, conn);
    await run(t, pubkey);
  } finally {
    await t.close();
  }
}

function chat(t: { apiKey: string }, body: Record<string, unknown>): Request {
  return new Request("http://control.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }], ...body }),
  });
}

Deno.test("route - a suspected node gets no consumer job: 503 naming no node; canaries still reach it", async () => {
  await withNode({}, async (t, pubkey) => {
    const app = createApp(t.cp);
    assert.equal((await app.request(chat(t, {}))).status, 200);
    t.cp.registry.setReputation(pubkey, { ...priorReputation(), suspicion: 0.95 });
    const res = await app.request(chat(t, {}));
    assert.equal(res.status, 503);
    const text = await res.text();
    assert.equal(JSON.parse(text).error.code, "no_node_available");
    assert.equal(text.includes(pubkey) || text.includes(pubkey.slice(0, 8)), false);
    const all = parseProviderPrefs(undefined);
    assert.deepEqual(routeJob(t.cp, "m", all), []);
    assert.deepEqual(routeJob(t.cp, "m", all, { includeSuspected: true }).map((n) => n.record.pubkey), [
      pubkey,
    ]);
  });
});

Deno.test("route - require_parameters takes the body's parameters; min_reputation the node's score", async () => {
  await withNode({ supportedParameters: ["max_tokens", "tools"] }, async (t) => {
    const app = createApp(t.cp);
    const tools = [{ type: "function", function: { name: "f", parameters: { type: "object" } } }];
    const ok = await app.request(chat(t, { tools, max_tokens: 5, provider: { require_parameters: true } }));
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    const seeded = await app.request(chat(t, { seed: 1, provider: { require_parameters: true } }));
    assert.equal(seeded.status, 503);
    await seeded.arrayBuffer();
    // Without require_parameters, the undeclared seed is simply passed on.
    assert.equal((await app.request(chat(t, { seed: 1 }))).status, 200);
    // The prior score is 0.7425 (formula 1: 0.75 × 0.99).
    assert.equal((await app.request(chat(t, { provider: { min_reputation: 0.74 } }))).status, 200);
    assert.equal((await app.request(chat(t, { provider: { min_reputation: 0.8 } }))).status, 503);
    const bad = await app.request(chat(t, { provider: { sort: "fastest" } }));
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.param, "provider.sort");
  });
});
