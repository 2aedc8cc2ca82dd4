// `infernet engine detect`: which engine this node would use, and its models.
import { CliError } from "../cli_error.ts";
import { parseUrlFlag } from "../config.ts";
import { detectEngine } from "../engines/detect.ts";
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
  });
  const engine = await detectEngine({
    engineUrl: f["engine-url"] ? parseUrlFlag("engine-url", f["engine-url"]) : undefined,
  });
  if (f.json) {
    ctx.print(JSON.stringify(engine));
    return;
  }
  if (!engine) throw new CliError("no_engine", "no inference engine found on 11434, 8000, 30000 or 8080");
  ctx.print(
    `${engine.kind} at ${engine.baseUrl}: ${engine.models.map((m) => m.id).join(", ") || "no models"}`,
  );
}
