// End to end, IPIP-0028 model keys through `infernet proxy --target model` (issue 28, docs/protocol.md
// §14–15): a publisher creates a model key and grants it to one node (`infernet model key create |
// grant`), the node takes its grant (`infernet model key show`), and the official `openai` SDK,
// through the proxy process, gets answers sealed to the model key from that node only. A model
// without a key is a clear error, with nothing charged.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { npubEncode } from "nostr-tools/nip19";
import { sleep } from "../shared/mod.ts";
import { reconcile } from "../db/mod.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { type NodeProcess, runCli, startNode, stopNode } from "../testing/network.ts";
import { startTestEngine, type TestEngine } from "../testing/test_engine.ts";
import { cliCommand } from "../testing/run_cli.ts";
import { watchOutput } from "../testing/child_output.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { within } from "../testing/within.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function cli(args: string[], home: string): Promise<string> {
  const run = await runCli(args, { INFERNET_HOME: home });
  assert.equal(run.code, 0, `infernet ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

testOnEachDatabase(
  "direct model key - proxy --target model: sealed to the model key, served by the granted node only",
  async (db) => {
    const cleanup: Array<() => Promise<unknown> | unknown> = [];
    try {
      const t = await openTestControlPlane({ serve: true, db });
      cleanup.unshift(() => t.close());
      const url = t.server!.url;
      const engines: TestEngine[] = [
        await startTestEngine({ models: ["keyed-m", "plain-m"] }),
        await startTestEngine({ models: ["keyed-m", "plain-m"] }),
      ];
      for (const e of engines) cleanup.unshift(() => e.close());
      const nodes: NodeProcess[] = [];
      for (const e of engines) {
        const port = freePort();
        const args = ["--direct-port", String(port), "--direct-url", `http://127.0.0.1:${port}`];
        const n = await startNode({ cp: t.cp, url }, e.url, { args });
        nodes.push(n);
        cleanup.unshift(() => stopNode(n));
      }
      const [granted, other] = nodes;

      // The publisher makes the model key and grants it to one node; that node takes its grant.
      const publisher = await Deno.makeTempDir({ prefix: "infernet-publisher-" });
      cleanup.push(() => Deno.remove(publisher, { recursive: true }));
      await cli(["init", "--json"], publisher);
      await Deno.writeTextFile(`${publisher}/keyed-m.gguf`, "weights of keyed-m");
      const created = JSON.parse(
        await cli([
          "model",
          "key",
          "create",
          "--model",
          "keyed-m",
          "--file",
          `${publisher}/keyed-m.gguf`,
          "--server",
          url,
          "--json",
        ], publisher),
      );
      await cli(
        [
          "model",
          "key",
          "grant",
          "--model-key",
          created.model_key,
          "--node",
          npubEncode(granted.pubkey),
          "--server",
          url,
        ],
        publisher,
      );
      await cli(["model", "key", "show", "--server", url], granted.home);

      const home = await Deno.makeTempDir({ prefix: "infernet-consumer-" });
      cleanup.push(() => Deno.remove(home, { recursive: true }));
      const proxy = cliCommand(["proxy", "--port", "0", "--server", url, "--target", "model"], {
        INFERNET_HOME: home,
      }).spawn();
      const out = watchOutput(proxy.stdout);
      const err = watchOutput(proxy.stderr);
      cleanup.unshift(async () => {
        proxy.kill("SIGTERM");
        await proxy.status;
        await Promise.all([out.done, err.done]);
      });
      const [line, port] = await out.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\/v1.*/, 30_000);
      assert.match(line, /sealed to model keys/);
      const sdk = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: t.apiKey, maxRetries: 0 });

      // Both nodes serve keyed-m; only the granted one holds its key, so only it is offered.
      const jobs: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { data: stream, response } = await sdk.chat.completions.create({
          model: "keyed-m",
          messages: [{ role: "user", content: `sealed to the model ${i}` }],
          stream: true,
        }).withResponse();
        let text = "";
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
        assert.equal(text, `Echo: sealed to the model ${i}`);
        jobs.push(response.headers.get("x-infernet-job-id")!);
      }
      const done = await sdk.chat.completions.create({
        model: "keyed-m",
        messages: [{ role: "user", content: "and not streamed" }],
      });
      assert.equal(done.choices[0].message.content, "Echo: and not streamed");
      assert.equal(engines[1].events.length, 0, "the node without a grant was never asked");
      assert.equal(engines[0].events.filter((e) => e.type === "complete").length, 4);

      // A model nobody holds a key of: a clear error, before any node is asked.
      await assert.rejects(
        sdk.chat.completions.create({ model: "plain-m", messages: [{ role: "user", content: "hi" }] }),
        (e: unknown) =>
          e instanceof OpenAI.NotFoundError && e.code === "model_key_not_found" &&
          /No available node holds a model key of 'plain-m'/.test(e.message),
      );
      assert.equal(engines[0].events.filter((e) => e.type === "request").length, 4);

      // Each keyed job was settled on the granted node, acknowledged, and paid once.
      for (const jobId of jobs) {
        const row = await within(
          (async () => {
            for (;;) {
              await t.cp.recorder.flush();
              const [r] = await db.sql`
                select j.node_pubkey, j.error_code, c.charged::text as charged
                from jobs j join job_charges c on c.job_id = j.id
                where j.id = ${jobId} and c.charged is not null`;
              if (r) return r;
              await sleep(25);
            }
          })(),
          10_000,
          `job ${jobId} settled`,
        );
        assert.deepEqual([row.node_pubkey, row.error_code], [granted.pubkey, null]);
        assert.ok(BigInt(row.charged) > 0n);
      }
      const [earned] = await db.sql`
        select count(*)::int as n from accounts where kind = 'operator_earnings' and owner = ${other.pubkey}`;
      assert.equal(earned.n, 0);
      assert.doesNotMatch(err.text(), /usage ack/, "every ack was taken");
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      for (const c of cleanup) await c();
    }
  },
);
