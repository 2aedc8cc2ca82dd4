// Two control planes sharing one PostgreSQL database and one NATS server, each with a real
// `infernet start` daemon on its own socket: a request on either reaches the other's node through
// the official `openai` SDK, and the node's signed receipt chain is countersigned by the instance
// holding its socket, once per job.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { findJob } from "../db/mod.ts";
import { startTestEngine, type TestEngine } from "../testing/test_engine.ts";
import { clusterTest, openTestCluster, until } from "../testing/cluster.ts";
import { type NodeProcess, startNode, stopNode } from "../testing/network.ts";
import type { TestControlPlane } from "../testing/control_plane.ts";

const client = (p: TestControlPlane) =>
  new OpenAI({ baseURL: `${p.server!.url}/v1`, apiKey: p.apiKey, maxRetries: 0, timeout: 20_000 });

clusterTest(
  "cluster daemons - each instance's daemon serves the other's requests; receipts signed once, by its holder",
  async () => {
    const c = await openTestCluster(2);
    const engines: TestEngine[] = [];
    const nodes: NodeProcess[] = [];
    try {
      for (const [i, plane] of c.planes.entries()) {
        const engine = await startTestEngine({ models: [`e${i}`] });
        engines.push(engine);
        nodes.push(await startNode({ cp: plane.cp, url: plane.server!.url }, engine.url));
      }
      await until(
        () => c.planes.every((p) => nodes.every((n) => p.cp.registry.get(n.pubkey)?.connection?.open)),
        10_000,
        "each instance to see both daemons",
      );
      for (const [origin, holder] of [[0, 1], [1, 0], [0, 1], [1, 0]]) {
        const plane = c.planes[origin];
        const messages = [{ role: "user" as const, content: `from ${origin} to ${holder}` }];
        const data = await client(plane).chat.completions.create({ model: `e${holder}`, messages });
        assert.equal(data.choices[0].message.content, `Echo: from ${origin} to ${holder}`);
        let text = "";
        for await (
          const chunk of await client(plane).chat.completions.create({
            model: `e${holder}`,
            messages,
            stream: true,
          })
        ) text += chunk.choices[0]?.delta?.content ?? "";
        assert.equal(text, `Echo: from ${origin} to ${holder}`);
      }
      // Every job is settled on its origin and receipted, signed by the node, by its holder.
      const sql = c.planes[0].cp.db.sql;
      for (const [holder, node] of nodes.entries()) {
        let rows: { job_id: string; signed: boolean; pubkey: string; node_seq: string; event_id: string }[] =
          [];
        const expected = 4;
        // Bounded: 200 looks, 100 ms apart.
        for (let i = 0; i < 200 && !(rows.length === expected && rows.every((r) => r.signed)); i++) {
          rows = await sql`
            select job_id, signed, (event::jsonb)->>'pubkey' as pubkey, node_seq::text, event_id
            from receipts where node_pubkey = ${node.pubkey} order by node_seq`;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(rows.length, expected, `receipts of node ${holder}`);
        assert.deepEqual(
          rows.map((r) => [r.signed, r.pubkey]),
          rows.map(() => [true, c.planes[holder].cp.platformKey.pubkey]),
        );
        assert.deepEqual(rows.map((r) => Number(r.node_seq)), [1, 2, 3, 4]);
        for (const r of rows) {
          const origin = 1 - holder;
          const row = await findJob(c.planes[origin].cp.db.sql, r.job_id);
          assert.equal(row?.status, "completed");
          assert.equal(row?.nodePubkey, node.pubkey);
          // The origin finds the receipt its holder wrote (what a canary's verdict cites).
          const written = await c.planes[origin].cp.receipts.whenReceipted(r.job_id, node.pubkey);
          assert.equal(written?.eventId, r.event_id);
        }
      }
    } catch (err) {
      for (const n of nodes) console.error(`--- node ${n.pubkey.slice(0, 8)} stderr ---\n${n.stderr()}`);
      throw err;
    } finally {
      await Promise.all(nodes.map(stopNode));
      await Promise.all(engines.map((e) => e.close()));
      await c.close();
    }
  },
);
