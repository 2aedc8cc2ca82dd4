// The deployment files say what the code does: the unit runs web/main.ts with the serve task's
// permissions and a stop timeout that covers the drain, and every variable the example environment
// sets is one the control plane reads (or the NATS connection's).
import assert from "node:assert/strict";
import { parseWebConfig } from "../web/config.ts";

const unit = await Deno.readTextFile(new URL("./infernet-control-plane.service", import.meta.url));
const envExample = await Deno.readTextFile(new URL("./control-plane.env.example", import.meta.url));
const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));

function unitValue(name: string): string {
  const m = unit.match(new RegExp(`^${name}=(.*)$`, "m"));
  if (!m) throw new Error(`the unit has no ${name}=`);
  return m[1];
}

Deno.test("deploy - the unit runs web/main.ts with the permissions of deno task serve", () => {
  const serve = (denoJson.tasks.serve as string).replace(/^deno run /, "");
  assert.equal(unitValue("ExecStart"), `/usr/local/bin/deno run ${serve}`);
  assert.equal(unitValue("KillSignal"), "SIGTERM");
});

Deno.test("deploy - the example environment parses, and the stop timeout covers its drain", () => {
  const env: Record<string, string> = {};
  for (const line of envExample.split("\n")) {
    const m = line.match(/^([A-Z_]+)=(.*)$/);
    if (m) env[m[1]] = m[2];
  }
  const config = parseWebConfig({ ...env, INFERNET_DATA_DIR: "/var/lib/infernet-control-plane" }, []);
  assert.equal(config.sharedState, "postgres");
  assert.equal(config.publicUrl, "https://infernet.example");
  const stopS = Number(unitValue("TimeoutStopSec"));
  assert.ok(stopS * 1000 > config.drainDelayMs + config.drainTimeoutMs, `${stopS} s`);
});
