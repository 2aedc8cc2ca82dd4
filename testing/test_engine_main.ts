// Runs the deterministic test engine: `deno run --allow-net testing/test_engine_main.ts --port 8081`.
// Prints one JSON line `{"url":…,"engine":"test"}` once listening; exits on SIGINT/SIGTERM.

import { parseArgs } from "node:util";
import {
  startTestEngine,
  TEST_ENGINE_FAILURES,
  TEST_ENGINE_LIES,
  type TestEngineFailure,
  type TestEngineLie,
  type TestEngineOptions,
} from "./test_engine.ts";

function toCount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`--${flag} must be a non-negative integer`);
  }
  return n;
}

/** Parses the command line into engine options, throwing on unknown flags or bad values. */
export function parseEngineArgs(args: string[]): TestEngineOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      port: { type: "string" },
      hostname: { type: "string" },
      "token-delay-ms": { type: "string" },
      "no-usage": { type: "boolean" },
      failure: { type: "string" },
      lie: { type: "string" },
      model: { type: "string", multiple: true },
    },
  });
  const failure = values.failure as TestEngineFailure | undefined;
  if (failure !== undefined && !TEST_ENGINE_FAILURES.includes(failure)) {
    throw new Error(`--failure must be one of ${TEST_ENGINE_FAILURES.join(", ")}`);
  }
  const lie = values.lie as TestEngineLie | undefined;
  if (lie !== undefined && !TEST_ENGINE_LIES.includes(lie)) {
    throw new Error(`--lie must be one of ${TEST_ENGINE_LIES.join(", ")}`);
  }
  return {
    lie,
    port: toCount("port", values.port),
    hostname: values.hostname,
    tokenDelayMs: toCount("token-delay-ms", values["token-delay-ms"]),
    usage: !values["no-usage"],
    failure,
    models: values.model,
  };
}

/** Starts the engine from command-line arguments and stops it on SIGINT or SIGTERM. */
export async function main(args: string[]): Promise<void> {
  const engine = await startTestEngine(parseEngineArgs(args));
  console.log(JSON.stringify({ url: engine.url, engine: "test" }));
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const stop = () => {
    for (const s of signals) Deno.removeSignalListener(s, stop);
    engine.close().then(() => Deno.exit(0));
  };
  for (const s of signals) Deno.addSignalListener(s, stop);
}

if (import.meta.main) await main(Deno.args);
