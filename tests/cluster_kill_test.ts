// An instance killed with SIGKILL while it relays a stream: the consumer on the instance that took
// the request gets a clean error within seconds, and the job is settled there once, for what was
// delivered.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { findJob } from "../db/mod.ts";
import { clusterTest, openTestCluster, until } from "../testing/cluster.ts";
import { watchOutput } from "../testing/child_output.ts";

clusterTest(
  "cluster kill - a stream relayed by a killed instance ends cleanly, billed for what was delivered",
  async () => {
    const c = await openTestCluster(1);
    const b = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../testing/cluster_instance_main.ts", import.meta.url).pathname,
        "--database-url",
        c.databaseUrl,
        "--prefix",
        c.prefix,
        "--model",
        "slow",
        "--token-delay-ms",
        "100",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const [a] = c.planes;
      const { pubkey } = JSON.parse(await watchOutput(b.stdout).firstLine(30_000));
      await until(() => a.cp.registry.get(pubkey)?.connection?.open === true, 10_000, "A to see B's node");
      const openai = new OpenAI({ baseURL: `${a.server!.url}/v1`, apiKey: a.apiKey, maxRetries: 0 });
      const stream = await openai.chat.completions.create({
        model: "slow",
        messages: [{ role: "user", content: Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ") }],
        stream: true,
      });
      let text = "";
      const read = (async () => {
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta?.content ?? "";
          if (text.split(" ").length === 4) b.kill("SIGKILL");
        }
      })();
      await assert.rejects(read, /stopped answering/);
      assert.ok(text.length > 0 && !text.includes("word39"), `delivered: ${text}`);
      await until(() => a.cp.runDeps.active.size === 0, 5000, "the job to end on A");
      await Promise.allSettled([...a.cp.runDeps.pending]);
      await a.cp.recorder.flush();
      const rows = await a.cp.db.sql<{ id: string }[]>`select id from jobs where node_pubkey = ${pubkey}`;
      assert.equal(rows.length, 1, "one job row, written once");
      const job = await findJob(a.cp.db.sql, rows[0].id);
      assert.equal(job?.status, "failed");
      assert.ok(job!.completionTokens > 0, "the delivered tokens are billed");
      assert.ok(job!.completionTokens < 40, "the undelivered ones are not");
    } finally {
      try {
        b.kill("SIGKILL");
      } catch {
        // Already dead, as intended.
      }
      await b.status;
      await c.close();
    }
  },
);
