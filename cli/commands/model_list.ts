// `infernet model list`: what is downloaded here and what the engine serves.
import { listLocalModels, localModelJson } from "../models/store.ts";
import { formatBytes } from "../models/quant.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { findEngine } from "./model_args.ts";

/** Runs `infernet model list`. */
export async function runList(ctx: CommandContext, args: string[]): Promise<void> {
  const flags = parseFlags("model list", args, { json: { type: "boolean" } });
  const { home } = await loadNodeConfig(ctx);
  const [local, engine] = await Promise.all([listLocalModels(home), findEngine(ctx)]);
  if (flags.json) {
    ctx.print(JSON.stringify({
      models: local.map(localModelJson),
      engine: engine
        ? { kind: engine.kind, url: engine.baseUrl, models: engine.models.map((m) => m.id) }
        : null,
    }));
    return;
  }
  if (local.length === 0) ctx.print(`no models downloaded in ${home}/models`);
  for (const m of local) {
    const state = m.partial
      ? "partial download"
      : m.sha256
      ? `sha256 ${m.sha256.slice(0, 12)}…`
      : "not verified";
    ctx.print(`${m.name}  ${formatBytes(m.bytes)}  ${m.quant ?? "-"}  ${state}`);
  }
  if (engine) {
    ctx.print(
      `engine ${engine.kind} at ${engine.baseUrl}: ${
        engine.models.map((m) => m.id).join(", ") || "no models"
      }`,
    );
  }
}
