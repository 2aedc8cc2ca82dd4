// `infernet engine detect`: which engine this node would use, and its models.
import { CliError } from "../cli_error.ts";
import { parseUrlFlag } from "../config.ts";
import { detectEngine } from "../engines/detect.ts";
import { plannedBuiltin } from "../engines/builtin/start_builtin.ts";
import { loadNodeConfig } from "./context.ts";
import type { CommandContext } from "./context.ts";
import { parseFlags } from "./flags.ts";

/** Runs `infernet engine detect`. */
export async function runEngine(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  if (sub !== "detect") {
    throw new CliError("usage", "usage: infernet engine detect [--engine-url URL] [--json]");
  }
  const f = parseFlags("engine detect", rest, {
    "engine-url": { type: "string" },
    json: { type: "boolean" },
    model: { type: "string" },
  });
  const engineUrl = f["engine-url"] ? parseUrlFlag("engine-url", f["engine-url"]) : undefined;
  const found = await detectEngine({ engineUrl });
  // Without an engine, `infernet start` would serve the configured model with the built-in engine.
  const { home, config } = await loadNodeConfig(ctx);
  const model = f.model ?? config.builtinModel;
  const engine = found ?? (!engineUrl && model ? plannedBuiltin(model, home) : null);
  if (f.json) {
    ctx.print(JSON.stringify(engine));
    return;
  }
  if (!engine) throw new CliError("no_engine", "no inference engine found on 11434, 8000, 30000 or 8080");
  if (engine.kind === "builtin" && !found) {
    ctx.print(`builtin (llama.cpp via node-llama-cpp, started by 'infernet start'): ${engine.models[0].id}`);
    return;
  }
  ctx.print(
    `${engine.kind} at ${engine.baseUrl}: ${engine.models.map((m) => m.id).join(", ") || "no models"}`,
  );
}
