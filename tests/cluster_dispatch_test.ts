// Several control planes sharing one PostgreSQL database and one NATS server, nodes connected to
// different ones: a request on any instance reaches any node (the official `openai` SDK, streamed
// and not), cancels cross both ways, and a node or instance that goes away is a clean error.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { findJob } from "../db/mod.ts";
import { createTestEngineHandler, type TestEngineHandler } from "../testing/test_engine.ts";
import {
  attachClusterNode,
  clusterTest,
  type ClusterTestNode,
  openTestCluster,
  type TestCluster,
  until,
} from "../testing/cluster.ts";
import { RemoteLink } from "../web/cluster/mod.ts";
import type { TestControlPlane } from "../testing/control_plane.ts";

function client(p: TestControlPlane): OpenAI {
  return new OpenAI({ baseURL: `${p.server!.url}/v1`, apiKey: p.apiKey, maxRetries: 0, timeout: 20_000 });
}

/** One node per instance, node i serving model `m<i>`; resolves once every instance sees all. */
async function withCluster(
  n: number,
  engineOpts: Parameters<typeof createTestEngineHandler>[0],
  fn: (c: TestCluster, nodes: ClusterTestNode[], engines: TestEngineHandler[]) => Promise<void>,
  config: Parameters<typeof openTestCluster>[1] = {},
): Promise<void> {
  const c = await openTestCluster(n, { receiptWaitMs: 50, ...config });
  const engines: TestEngineHandler[] = [];
  try {
    const nodes: ClusterTestNode[] = [];
    for (let i = 0; i < n; i++) {
      const engine = createTestEngineHandler({ models: [`m${i}`], ...engineOpts });
      engines.push(engine);
      nodes.push(
        await attachClusterNode(c.planes[i].cp, engine.handler, {
          nodeId: `node${i}`,
          models: [{ id: `m${i}`, contextLength: 4096, promptPricePer1k: 1000, completionPricePer1k: 1000 }],
        }),
      );
    }
    await until(
      () => c.planes.every((p) => nodes.every((node) => p.cp.registry.get(node.pubkey)?.connection?.open)),
      10_000,
      "every instance to see every node",
    );
    await fn(c, nodes, engines);
  } finally {
    for (const e of engines) e.abortAll();
    await c.close();
  }
}

const ask = [{ role: "user" as const, content: "hello cluster" }];

clusterTest("cluster - a request on any instance reaches a node on any other, streamed and not", async () => {
  await withCluster(3, {}, async (c, nodes) => {
    for (const [a, plane] of c.planes.entries()) {
      for (const [b, node] of nodes.entries()) {
        const held = plane.cp.registry.get(node.pubkey)!.connection;
        assert.equal(
          held instanceof RemoteLink,
          a !== b,
          `instance ${a} holds node ${b} ${a === b ? "here" : "remotely"}`,
        );
        const answer = await client(plane).chat.completions.create({ model: `m${b}`, messages: ask });
        assert.equal(answer.choices[0].message.content, "Echo: hello cluster");
        assert.ok(answer.usage!.completion_tokens > 0);
        const stream = await client(plane).chat.completions.create({
          model: `m${b}`,
          messages: ask,
          stream: true,
          stream_options: { include_usage: true },
        });
        let text = "";
        let usage = null;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta?.content ?? "";
          usage = chunk.usage ?? usage;
        }
        assert.equal(text, "Echo: hello cluster");
        assert.ok(usage && usage.completion_tokens > 0);
        // Both went to node b, and are settled once, on the instance that took them (a).
        const [job1, job2] = node.jobs.slice(-2);
        for (const id of [job1, job2]) {
          await until(() => !plane.cp.runDeps.active.has(id), 5000, "the job to end");
          await plane.cp.recorder.flush();
          const row = await findJob(plane.cp.db.sql, id);
          assert.equal(row?.status, "completed");
          assert.equal(row?.nodePubkey, node.pubkey);
          assert.ok(row!.completionTokens > 0);
        }
      }
    }
    // Each attempt has one platform receipt, written by the instance holding the node's socket.
    const sql = c.planes[0].cp.db.sql;
    for (const [b, node] of nodes.entries()) {
      const signer = c.planes[b].cp.platformKey.pubkey;
      let rows: { job_id: string; pubkey: string }[] = [];
      for (let i = 0; i < 100 && rows.length < node.jobs.length; i++) {
        rows = await sql<{ job_id: string; pubkey: string }[]>`
          select job_id, (event::jsonb)->>'pubkey' as pubkey from receipts where node_pubkey = ${node.pubkey}`;
        if (rows.length < node.jobs.length) await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(rows.map((r) => r.job_id).sort(), [...node.jobs].sort());
      for (const r of rows) assert.equal(r.pubkey, signer);
    }
  });
});

/** Reads a stream until its first content chunk. */
async function firstChunk(stream: AsyncIterable<OpenAI.ChatCompletionChunk>) {
  const it = stream[Symbol.asyncIterator]();
  for (let i = 0; i < 50; i++) {
    const { value, done } = await it.next();
    if (done) throw new Error("the stream ended before its first content");
    if (value.choices[0]?.delta?.content) return it;
  }
  throw new Error("no content in the first 50 chunks");
}

clusterTest("cluster - a consumer abort on A cancels the job on B's node", async () => {
  await withCluster(2, { tokenDelayMs: 200 }, async (c, nodes) => {
    const a = c.planes[0];
    const stream = await client(a).chat.completions.create({
      model: "m1",
      messages: [{ role: "user", content: "one two three four five six seven eight nine ten" }],
      stream: true,
    });
    await firstChunk(stream);
    const jobId = nodes[1].jobs.at(-1)!;
    stream.controller.abort();
    await until(() => nodes[1].cancels.includes(jobId), 5000, "the cancel to reach the node on B");
    await until(() => !a.cp.runDeps.active.has(jobId), 5000, "the job to end on A");
    await a.cp.recorder.flush();
    const row = await findJob(a.cp.db.sql, jobId);
    assert.equal(row?.status, "cancelled");
    assert.equal(row?.errorCode, "client_disconnected");
    // B relays nothing more for it.
    await until(() => c.planes[1].cp.cluster!.relay.size === 0, 5000, "B to forget the job");
  });
});

clusterTest("cluster - B losing its node ends A's stream and A's request with a clean error", async () => {
  await withCluster(2, { tokenDelayMs: 200 }, async (c, nodes) => {
    const a = c.planes[0];
    const stream = await client(a).chat.completions.create({
      model: "m1",
      messages: [{ role: "user", content: "one two three four five six seven eight nine ten" }],
      stream: true,
    });
    const rest = await firstChunk(stream);
    const jobId = nodes[1].jobs.at(-1)!;
    nodes[1].kill();
    await assert.rejects(
      async () => {
        for (let i = 0; i < 100; i++) if ((await rest.next()).done) return;
      },
      (err: Error) => /node/i.test(err.message),
    );
    await until(() => !a.cp.runDeps.active.has(jobId), 5000, "the job to end on A");
    await a.cp.recorder.flush();
    const row = await findJob(a.cp.db.sql, jobId);
    assert.equal(row?.status, "failed");
    // Every instance drops the node; a new request finds no node serving the model, as alone.
    await until(() => !a.cp.registry.get(nodes[1].pubkey)?.connection, 5000, "A to drop the node");
    await assert.rejects(
      () => client(a).chat.completions.create({ model: "m1", messages: ask }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 404 && err.code === "model_not_found",
    );
  });
});

clusterTest("cluster - a node lost before its answer makes A try no further and answer 503", async () => {
  await withCluster(2, { failure: "hang" }, async (c, nodes) => {
    const a = c.planes[0];
    const answer = client(a).chat.completions.create({ model: "m1", messages: ask });
    await until(() => nodes[1].jobs.length === 1, 5000, "the job to reach the node on B");
    nodes[1].kill();
    await assert.rejects(answer, (err: InstanceType<typeof OpenAI.APIError>) => {
      assert.equal(err.status, 503);
      assert.equal(err.code, "no_node_available");
      assert.match(err.message, /no longer connected|socket closed/);
      return true;
    });
  });
});

clusterTest("cluster - an instance that stops answering takes its nodes and jobs with it", async () => {
  await withCluster(2, { tokenDelayMs: 200 }, async (c, nodes) => {
    const [a, b] = c.planes;
    const stream = await client(a).chat.completions.create({
      model: "m1",
      messages: [{ role: "user", content: "one two three four five six seven eight nine ten" }],
      stream: true,
    });
    const rest = await firstChunk(stream);
    const jobId = nodes[1].jobs.at(-1)!;
    // B vanishes from NATS without a word, as a killed process would.
    await b.cp.cluster!.nc.close();
    await assert.rejects(
      async () => {
        for (let i = 0; i < 100; i++) if ((await rest.next()).done) return;
      },
      (err: Error) => /stopped answering/.test(err.message),
    );
    await until(() => !a.cp.registry.get(nodes[1].pubkey)?.connection, 10_000, "A to drop B's node");
    await until(() => !a.cp.runDeps.active.has(jobId), 5000, "the job to end on A");
    await a.cp.recorder.flush();
    assert.equal((await findJob(a.cp.db.sql, jobId))?.status, "failed");
  });
});

clusterTest(
  "cluster - a remote node past the first-token deadline is cancelled there and skipped",
  async () => {
    await withCluster(2, { failure: "hang" }, async (c, nodes) => {
      const a = c.planes[0];
      await assert.rejects(
        () => client(a).chat.completions.create({ model: "m1", messages: ask }),
        (err: InstanceType<typeof OpenAI.APIError>) => {
          assert.equal(err.status, 503);
          assert.match(err.message, /no answer within 300 ms/);
          return true;
        },
      );
      const jobId = nodes[1].jobs.at(-1)!;
      await until(() => nodes[1].cancels.includes(jobId), 5000, "the cancel to reach the node on B");
      await until(() => c.planes[1].cp.cluster!.relay.size === 0, 5000, "B to forget the job");
    }, { firstTokenTimeoutMs: 300 });
  },
);

clusterTest("cluster - a direct-mode ticket routed on A is announced to its node on B", async () => {
  await withCluster(2, {}, async (c, nodes) => {
    const a = c.planes[0];
    const res = await fetch(`${a.server!.url}/v1/route`, {
      method: "POST",
      headers: { authorization: `Bearer ${a.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "m1", prompt_tokens: 8, max_tokens: 8, consumer: "ab".repeat(32) }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const answer = await res.json();
    assert.equal(answer.candidates[0].node, nodes[1].pubkey);
    // Through B's inbox to the socket B holds, unchanged; nothing to the node on A.
    await until(() => nodes[1].tickets.length === 1, 5000, "the ticket to reach the node on B");
    assert.deepEqual(nodes[1].tickets, [answer.candidates[0].ticket]);
    assert.deepEqual(nodes[0].tickets, []);
  });
});
