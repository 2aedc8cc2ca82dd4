// `infernet model remove <name>`: a downloaded model's files, or a model in Ollama.
import { CliError } from "../cli_error.ts";
import { ollamaDelete } from "../models/ollama.ts";
import { formatBytes } from "../models/quant.ts";
import { findLocalModels, listLocalModels, removeLocalModel } from "../models/store.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { findEngine, parseWithNames } from "./model_args.ts";

/** Runs `infernet model remove <name>`. */
export async function runRemove(ctx: CommandContext, args: string[]): Promise<void> {
  const { names } = parseWithNames("remove", args, {}, 1);
  const name = names[0];
  const { home } = await loadNodeConfig(ctx);
  const local = findLocalModels(await listLocalModels(home), name);
  if (local.length > 0) {
    for (const m of local) {
      await removeLocalModel(home, m);
      ctx.print(`removed ${m.path}${m.partial ? " (partial download)" : ""} (${formatBytes(m.bytes)})`);
    }
    return;
  }
  if (!name.startsWith("hf:")) {
    const engine = await findEngine(ctx);
    if (engine?.kind === "ollama" && engine.models.some((m) => m.id === name)) {
      if (await ollamaDelete(engine.baseUrl, name)) {
        ctx.print(`removed ${name} from Ollama at ${engine.baseUrl}`);
        return;
      }
    }
  }
  throw new CliError("model_not_found", `no model named '${name}' on this node (see infernet model list)`);
}
