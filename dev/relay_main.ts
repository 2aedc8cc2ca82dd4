// `deno task relay [--port N] [--host H]`: a local Nostr relay (shared/relay/relay_server.ts) for
// nodes and consumers to meet on, printing its ws:// URL; Ctrl-C stops it.
import { parseArgs } from "node:util";
import { startRelay } from "../shared/relay/relay_server.ts";

async function run(): Promise<number> {
  let values: { port?: string; host?: string };
  try {
    values = parseArgs({
      args: Deno.args,
      options: { port: { type: "string" }, host: { type: "string" } },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`relay: ${(err as Error).message.split("\n")[0]}`);
    return 2;
  }
  const port = values.port === undefined ? 7447 : Number(values.port);
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
    console.error("relay: --port must be an integer from 0 to 65535");
    return 2;
  }
  let relay;
  try {
    relay = await startRelay({ hostname: values.host ?? "127.0.0.1", port });
  } catch (err) {
    console.error(`relay: cannot listen on port ${port}: ${(err as Error).message}`);
    return 1;
  }
  console.log(relay.url);
  await new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", resolve);
    Deno.addSignalListener("SIGTERM", resolve);
  });
  await relay.close();
  return 0;
}

Deno.exit(await run());
