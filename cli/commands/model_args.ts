// What every `infernet model` subcommand shares: its usage line, its argument parsing, and the
// engine it talks to.
import { CliHelp, wantsHelp } from "./flags.ts";
import { parseArgs } from "node:util";
import { CliError } from "../cli_error.ts";
import { type DetectedEngine, detectEngine } from "../engines/detect.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import type { parseFlags } from "./flags.ts";

/** The usage of `infernet model`, printed on any mistake in its arguments. */
export const USAGE = `usage: infernet model <command>
  pull hf:org/repo[:file] [--quant Q] [--vram-mb N] [--ram-mb N] [--retries N] [--json]
  pull <ollama-model> [--json]            (when the engine is Ollama)
  list [--json]
  info <name> [--json]
  remove <name>
  recommend [--vram-mb N] [--ram-mb N] [--json]
  key create|grant|show ...               model keys for direct mode (infernet model key)`;

/** Flags plus exactly `count` positional arguments. */
export function parseWithNames<O extends Parameters<typeof parseFlags>[2]>(
  command: string,
  args: string[],
  options: O,
  count: number,
) {
  if (wantsHelp(args)) throw new CliHelp(USAGE);
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new CliError("usage", `model ${command}: ${(err as Error).message}`);
  }
  if (parsed.positionals.length !== count) throw new CliError("usage", USAGE);
  return { flags: parsed.values, names: parsed.positionals };
}

/** The engine this node would use (configured, or found on the standard ports), or null. */
export async function findEngine(ctx: CommandContext): Promise<DetectedEngine | null> {
  const { config } = await loadNodeConfig(ctx);
  return await detectEngine({ engineUrl: config.engineUrl ?? undefined });
}
