// One more control plane of a test cluster, in its own process (as instances run in production),
// with one in-process node serving the test engine's answers for `--model` (a comma-separated list
// for several); with `--serve`, on a
// free loopback port too. Prints one line, `{"pubkey":"…","instance":"…","url":…,"apiKey":"…"}`
// (url null unless served; apiKey a funded key), once joined; closes when its stdin does. It also
// answers on `<prefix>.echo.<instance>` with the message it got (a round trip's floor for benches).
// Run: deno run --allow-all testing/cluster_instance_main.ts --database-url URL --prefix P --model m
//        [--token-delay-ms 0] [--serve]
import { parseArgs } from "node:util";
import { openDatabase } from "../db/mod.ts";
import { openTestControlPlane } from "./control_plane.ts";
import { attachClusterNode, NATS_URL } from "./cluster.ts";
import { createTestEngineHandler } from "./test_engine.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    "database-url": { type: "string" },
    prefix: { type: "string" },
    model: { type: "string", default: "m" },
    "token-delay-ms": { type: "string", default: "0" },
    serve: { type: "boolean", default: false },
  },
}).values;
if (!flags["database-url"] || !flags.prefix) throw new Error("--database-url and --prefix are required");

const db = await openDatabase({ url: flags["database-url"], max: 4 });
const plane = await openTestControlPlane({
  db,
  serve: flags.serve,
  config: { natsUrl: NATS_URL, natsPrefix: flags.prefix },
});
const models = flags.model.split(",");
const node = await attachClusterNode(
  plane.cp,
  createTestEngineHandler({ models, tokenDelayMs: Number(flags["token-delay-ms"]) }).handler,
  {
    nodeId: `node-${models[0]}`,
    models: models.map((id) => ({
      id,
      contextLength: 4096,
      promptPricePer1k: 1000,
      completionPricePer1k: 1000,
    })),
  },
);
const cluster = plane.cp.cluster!;
cluster.nc.subscribe(`${flags.prefix}.echo.${cluster.instance}`, {
  callback: (_err, msg) => void msg.respond(msg.data),
});
await cluster.nc.flush();
console.log(JSON.stringify({
  pubkey: node.pubkey,
  instance: cluster.instance,
  url: plane.server?.url ?? null,
  apiKey: plane.apiKey,
}));
for await (const _ of Deno.stdin.readable) {
  // Until the parent closes our stdin (or dies).
}
await plane.close();
await db.close();
