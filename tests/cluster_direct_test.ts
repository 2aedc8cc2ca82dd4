// Direct mode (docs/protocol.md §14) across three instances sharing PostgreSQL and NATS, with real
// `infernet start` daemons on instance C and the consumer's client module: the route answered by
// A, the relay and the usage ack sent to B (a load balancer's choice), the node's receipt arriving
// on C. Each job is settled once, by A, at the amount the settlement rule says; an ack replayed to
// another instance is refused; a job whose routing instance was killed ends with a clean error and
// nothing charged.
import assert from "node:assert/strict";
import { generateSecretKey } from "nostr-tools/pure";
import {
  accountBalance,
  consumerBalance,
  findApiKeyByHash,
  findJob,
  hashApiKey,
  reconcile,
  releaseStaleLeases,
} from "../db/mod.ts";
import { jobCost, sleep } from "../shared/mod.ts";
import { createUsageAck, privateChat } from "../shared/direct/mod.ts";
import { startTestEngine, type TestEngine } from "../testing/test_engine.ts";
import { clusterTest, openTestCluster, type TestCluster, until } from "../testing/cluster.ts";
import { type NodeProcess, startNode, stopNode } from "../testing/network.ts";
import { watchOutput } from "../testing/child_output.ts";
import { ownerOfJob } from "../web/cluster/direct_peers.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

interface Sent {
  url: string;
  body: string;
  status: number;
  text: string;
}

/**
 * A fetch that sends `/v1/route` to `routeTo` and every other control-plane call to `restTo`, as
 * a load balancer might; direct calls to a node go where they point. Every call is recorded.
 */
function balancedFetch(routeTo: string, restTo: string, sent: Sent[]): typeof fetch {
  return async (input, init) => {
    const u = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    let target = u.href;
    if (u.host === "cluster.test") {
      target = (u.pathname === "/v1/route" ? routeTo : restTo) + u.pathname + u.search;
    }
    const body = typeof init?.body === "string" ? init.body : "";
    const res = await fetch(target, init);
    if (u.pathname.startsWith("/v1/relay/") || u.pathname.endsWith("/direct")) {
      sent.push({ url: target, body, status: res.status, text: "" });
      return res;
    }
    const text = await res.text();
    sent.push({ url: target, body, status: res.status, text });
    return new Response(text, { status: res.status, headers: res.headers });
  };
}

interface Net {
  c: TestCluster;
  engines: TestEngine[];
  /** On instance C: `relayNode` has no direct endpoint, `directNode` serves one. */
  relayNode: NodeProcess;
  directNode: NodeProcess;
}

async function withNet(fn: (net: Net) => Promise<void>): Promise<void> {
  // One platform key for the deployment, as in production: a node checks any instance's tickets.
  const keyDir = await Deno.makeTempDir({ prefix: "infernet-platform-key-" });
  const c = await openTestCluster(3, {
    directAckWaitMs: 10_000,
    receiptWaitMs: 200,
    platformKeyFile: `${keyDir}/platform.key`,
  });
  const engines = [
    await startTestEngine({ models: ["relay-m"] }),
    await startTestEngine({ models: ["direct-m"] }),
  ];
  const nodes: NodeProcess[] = [];
  try {
    const cPlane = c.planes[2];
    const on = { cp: cPlane.cp, url: cPlane.server!.url };
    nodes.push(await startNode(on, engines[0].url));
    const port = freePort();
    nodes.push(
      await startNode(on, engines[1].url, {
        args: ["--direct-port", String(port), "--direct-url", `http://127.0.0.1:${port}`],
      }),
    );
    await until(
      () => c.planes.every((p) => nodes.every((n) => p.cp.registry.get(n.pubkey)?.connection?.open)),
      10_000,
      "every instance to see both daemons",
    );
    await fn({ c, engines, relayNode: nodes[0], directNode: nodes[1] });
  } catch (err) {
    for (const n of nodes) console.error(`--- node ${n.pubkey.slice(0, 8)} stderr ---\n${n.stderr()}`);
    throw err;
  } finally {
    for (const n of nodes) await stopNode(n);
    for (const e of engines) await e.close();
    await c.close();
    await Deno.remove(keyDir, { recursive: true });
  }
}

/** Runs one private chat through `fetch`; its text and job id. */
async function chat(
  net: Net,
  fetchVia: typeof fetch,
  model: string,
  content: string,
): Promise<{ text: string; jobId: string }> {
  let jobId = "";
  let text = "";
  for await (
    const chunk of privateChat({
      server: "http://cluster.test",
      apiKey: net.c.planes[0].apiKey,
      fetch: fetchVia,
      body: { model, messages: [{ role: "user", content }], stream: true },
      onRoute: (r) => jobId = r.job_id,
      onAckError: (err) => {
        throw err;
      },
    }) as AsyncIterable<{ choices: { delta?: { content?: string } }[] }>
  ) text += chunk.choices[0]?.delta?.content ?? "";
  return { text, jobId };
}

/** Waits for a job's settlement row; asserts it was settled once, by the node's receipt and the ack. */
async function assertSettled(net: Net, jobId: string, node: NodeProcess, model: string): Promise<void> {
  const a = net.c.planes[0].cp;
  await until(() => !a.runDeps.active.has(jobId), 15_000, "the job to end on A, which routed it");
  await a.recorder.flush();
  const row = await findJob(a.db.sql, jobId);
  assert.equal(row?.status, "completed", `${row?.status} ${row?.errorCode}`);
  assert.equal(row?.nodePubkey, node.pubkey);
  assert.equal(row?.errorCode, null, "the node's and the consumer's counts agree: nothing flagged");
  assert.ok(row!.completionTokens > 0);
  // Billed on the node's receipt, which the consumer's ack confirmed.
  assert.equal(row!.promptTokens, row!.enginePromptTokens);
  assert.equal(row!.completionTokens, row!.engineCompletionTokens);
  assert.ok(row!.countedCompletionTokens !== null, "the consumer's count was recorded");
  const charges = await a.db.sql<
    { charged: bigint; prompt_tokens: number; completion_tokens: number; settled: boolean }[]
  >`select charged, prompt_tokens, completion_tokens, settled_at is not null as settled
    from job_charges where job_id = ${jobId}`;
  assert.equal(charges.length, 1);
  assert.ok(charges[0].settled);
  const price = a.registry.get(node.pubkey)!.record.models.find((m) => m.id === model)!;
  assert.equal(
    BigInt(charges[0].charged),
    jobCost({
      promptTokens: row!.promptTokens,
      completionTokens: row!.completionTokens,
      promptPer1k: price.promptPricePer1k,
      completionPer1k: price.completionPricePer1k,
    }),
  );
  assert.deepEqual(await reconcile(a.db.sql), []);
}

clusterTest(
  "cluster direct - routed on A, relayed via B to a node on C, acked on B: settled once, by A",
  async () => {
    await withNet(async (net) => {
      const [a, b, c] = net.c.planes.map((p) => p.server!.url);
      const sent: Sent[] = [];
      const { text, jobId } = await chat(net, balancedFetch(a, b, sent), "relay-m", "relay me across");
      assert.equal(text, "Echo: relay me across");
      assert.equal(ownerOfJob(jobId), net.c.planes[0].cp.cluster!.instance, "the job id names A");
      assert.deepEqual(
        sent.map((
          s,
        ) => [new URL(s.url).origin, new URL(s.url).pathname.split("/").slice(0, 3).join("/"), s.status]),
        [[a, "/v1/route", 200], [b, "/v1/relay", 200], [b, "/v1/route", 200]],
      );
      await assertSettled(net, jobId, net.relayNode, "relay-m");

      // The same ack replayed to C is refused (the owner holds it once), and nothing changes.
      const ack = sent.find((s) => s.url.endsWith("/usage"))!;
      const replay = await fetch(`${c}/v1/route/${jobId}/usage`, {
        method: "POST",
        headers: { authorization: `Bearer ${net.c.planes[0].apiKey}`, "content-type": "application/json" },
        body: ack.body,
      });
      const refusal = await replay.json();
      assert.ok([404, 409].includes(replay.status), JSON.stringify(refusal));
      assert.ok(["job_not_found", "ack_replayed"].includes(refusal.error.code), JSON.stringify(refusal));
      const [{ n }] = await net.c.planes[0].cp.db.sql<{ n: number }[]>`
        select count(*)::int as n from job_charges where job_id = ${jobId}`;
      assert.equal(n, 1);
      assert.deepEqual(await reconcile(net.c.planes[0].cp.db.sql), []);

      // The platform receipt is written by C (the node's socket), once.
      const rows = await net.c.planes[0].cp.db.sql<{ pubkey: string }[]>`
        select (event::jsonb)->>'pubkey' as pubkey from receipts where job_id = ${jobId}`;
      for (let i = 0; i < 100 && rows.length === 0; i++) {
        await sleep(50);
        rows.push(
          ...await net.c.planes[0].cp.db.sql<{ pubkey: string }[]>`
          select (event::jsonb)->>'pubkey' as pubkey from receipts where job_id = ${jobId}`,
        );
      }
      assert.deepEqual(rows.map((r) => r.pubkey), [net.c.planes[2].cp.platformKey.pubkey]);
    });
  },
);

clusterTest("cluster direct - HTTP direct to a node on C, acked on B: settled once, by A", async () => {
  await withNet(async (net) => {
    const [a, b] = net.c.planes.map((p) => p.server!.url);
    const sent: Sent[] = [];
    const { text, jobId } = await chat(net, balancedFetch(a, b, sent), "direct-m", "straight to the node");
    assert.equal(text, "Echo: straight to the node");
    const paths = sent.map((s) => new URL(s.url).pathname);
    assert.equal(paths[1], "/direct", "the consumer called the node itself");
    assert.equal(new URL(sent[2].url).origin, b);
    await assertSettled(net, jobId, net.directNode, "direct-m");
  });
});

clusterTest(
  "cluster direct - the routing instance killed after the route: clean errors on B, nothing charged",
  async () => {
    await withNet(async (net) => {
      const [, b] = net.c.planes.map((p) => p.server!.url);
      const sql = net.c.planes[0].cp.db.sql;
      const proc = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          new URL("../testing/cluster_instance_main.ts", import.meta.url).pathname,
          "--database-url",
          net.c.databaseUrl,
          "--prefix",
          net.c.prefix,
          "--model",
          "unused-m",
          "--serve",
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      let killed = false;
      try {
        const doomed = JSON.parse(await watchOutput(proc.stdout).firstLine(30_000)) as {
          url: string;
          apiKey: string;
          instance: string;
        };
        const keyId = (await findApiKeyByHash(sql, hashApiKey(doomed.apiKey)))!.id;
        const before = await accountBalance(sql, consumerBalance(keyId));
        // Routed by the doomed instance once it sees the node on C.
        let route: { job_id: string; candidates: { node: string; relay: string }[] } | null = null;
        for (let i = 0; i < 100 && !route; i++) {
          const res = await fetch(`${doomed.url}/v1/route`, {
            method: "POST",
            headers: { authorization: `Bearer ${doomed.apiKey}`, "content-type": "application/json" },
            body: JSON.stringify({ model: "relay-m", prompt_tokens: 5, consumer: "ab".repeat(32) }),
          });
          if (res.status === 200) route = await res.json();
          else await res.body?.cancel();
          if (!route) await sleep(100);
        }
        assert.ok(route, "the doomed instance routed the job");
        assert.equal(ownerOfJob(route.job_id), doomed.instance);
        assert.ok(await accountBalance(sql, consumerBalance(keyId)) < before, "the hold was taken");
        proc.kill("SIGKILL");
        await proc.status;
        killed = true;

        const auth = { authorization: `Bearer ${doomed.apiKey}` };
        const relay = await fetch(`${b}${route.candidates[0].relay}`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/x-ndjson" },
          body: '{"ticket":{},"consumer":"x"}\n',
        });
        const relayError = await relay.json();
        assert.equal(relay.status, 404);
        assert.equal(relayError.error.code, "job_not_found");
        assert.match(relayError.error.message, /is gone/);

        const ack = await fetch(`${b}/v1/route/${route.job_id}/usage`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify(createUsageAck(generateSecretKey(), {
            job_id: route.job_id,
            node: route.candidates[0].node,
            prompt_tokens: 5,
            completion_tokens: 5,
            artifact_hash: "ab".repeat(32),
            created_at: Math.floor(Date.now() / 1000),
          })),
        });
        const ackError = await ack.json();
        assert.equal(ack.status, 404);
        assert.equal(ackError.error.code, "job_not_found");

        // Nothing charged: no settlement; the dead instance's lease goes back whole.
        const charged = await sql<{ n: number }[]>`
          select count(*)::int as n from job_charges where job_id = ${route.job_id} and charged > 0`;
        assert.equal(charged[0].n, 0);
        await sleep(1100);
        assert.ok(await releaseStaleLeases(sql, 1000) >= 1, "the dead instance's lease is released");
        assert.equal(await accountBalance(sql, consumerBalance(keyId)), before);
        assert.deepEqual(await reconcile(sql), []);
      } finally {
        if (!killed) {
          proc.kill("SIGKILL");
          await proc.status;
        }
      }
    });
  },
);
