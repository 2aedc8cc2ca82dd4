// The control plane's entry point: config → storage → HTTP server (→ a local node, for
// `deno task start`). The only place that calls Deno.serve.
import { ConfigError, parseWebConfig } from "./config.ts";
import { type ControlPlane, openControlPlane } from "./control_plane.ts";
import { createApp } from "./app.ts";
import { PING_INTERVAL_MS } from "./api/nodes/socket.ts";
import { startLocalNetwork } from "./local_network.ts";
import { createApiKey } from "../db/mod.ts";

/** A running control plane server. */
export interface RunningServer {
  url: string;
  port: number;
  shutdown(): Promise<void>;
}

/** Serves the control plane (port 0 picks a free port) and keeps node sockets alive. */
export function serveControlPlane(
  cp: ControlPlane,
  opts: { hostname: string; port: number },
): Promise<RunningServer> {
  const app = createApp(cp);
  const keepalive = setInterval(() => {
    for (const node of cp.registry.all()) {
      const conn = node.connection;
      if (!conn) continue;
      if (Date.now() - conn.lastPongAt > 3 * PING_INTERVAL_MS) conn.close("no pong from node");
      else conn.ping();
    }
  }, PING_INTERVAL_MS);
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: opts.hostname,
      port: opts.port,
      onListen: (addr) =>
        resolve({
          url: `http://${addr.hostname}:${addr.port}`,
          port: addr.port,
          async shutdown() {
            clearInterval(keepalive);
            for (const node of cp.registry.all()) node.connection?.close("server shutting down");
            await server.shutdown();
          },
        }),
    }, app.fetch);
  });
}

async function run(): Promise<number> {
  let config;
  try {
    config = parseWebConfig(Deno.env.toObject(), Deno.args);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`infernet-web: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const cp = await openControlPlane(config);
  const server = await serveControlPlane(cp, { hostname: config.hostname, port: config.port });
  const url = config.publicUrl ?? server.url;
  const local = config.localNode
    ? await startLocalNetwork(cp, { serverUrl: server.url, dataDir: config.dataDir })
    : null;
  const { key } = await createApiKey(cp.db.sql, { label: "printed at start" });
  const model = local?.models[0] ?? "<model>";
  console.log(
    [
      "",
      `Infernet control plane: ${url}  (${cp.db.description}; KV ${
        config.kv ?? `${config.dataDir}/kv.sqlite3`
      })`,
      local ? `Local node: ${local.description}` : "No local node (--no-local-node).",
      "",
      `OpenAI base URL: ${url}/v1`,
      `API key (new, shown once): ${key}`,
      "",
      `curl ${url}/v1/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" \\`,
      `  -d '{"model":"${model}","messages":[{"role":"user","content":"Hello!"}]}'`,
      "",
    ].join("\n"),
  );
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  console.log("shutting down…");
  await local?.stop();
  await server.shutdown();
  await cp.close();
  return 0;
}

if (import.meta.main) Deno.exit(await run());
