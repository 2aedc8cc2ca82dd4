// `infernet model pull | list | info | remove | recommend`: the node's models, from the Hugging
// Face Hub into $INFERNET_HOME/models, or through Ollama's own API when Ollama is the engine.
// One file per subcommand (model_*.ts).
import { CliError } from "../cli_error.ts";
import type { CommandContext } from "./context.ts";
import { USAGE } from "./model_args.ts";
import { runInfo } from "./model_info.ts";
import { runList } from "./model_list.ts";
import { runPull } from "./model_pull.ts";
import { runRecommend } from "./model_recommend.ts";
import { runRemove } from "./model_remove.ts";
import { runModelKey } from "./model_key.ts";

/** Runs `infernet model …`. */
export async function runModel(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  switch (sub) {
    case "pull":
      return await runPull(ctx, rest);
    case "list":
    case "ls":
      return await runList(ctx, rest);
    case "info":
      return await runInfo(ctx, rest);
    case "remove":
    case "rm":
      return await runRemove(ctx, rest);
    case "recommend":
      return await runRecommend(ctx, rest);
    case "key":
      return await runModelKey(ctx, rest);
    default:
      throw new CliError("usage", USAGE);
  }
}
