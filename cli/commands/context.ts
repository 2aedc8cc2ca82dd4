// What every command gets: parsed flags, the node's home and config, output helpers.
import type { Logger } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { type NodeConfig, parseUrlFlag, readNodeConfig, resolveHome } from "../config.ts";
import { type DetectedEngine, detectEngine } from "../engines/detect.ts";

/** A command's environment. */
export interface CommandContext {
  args: string[];
  env: Record<string, string | undefined>;
  log: Logger;
  /** Prints a line for the operator (stdout). */
  print(line: string): void;
}

/** Home (`$INFERNET_HOME`) and config. */
export async function loadNodeConfig(ctx: CommandContext): Promise<{ home: string; config: NodeConfig }> {
  const dir = resolveHome(ctx.env);
  return { home: dir, config: await readNodeConfig(dir) };
}

/** The control plane URL: `--server`, else config, else `INFERNET_SERVER`. */
export function resolveServer(
  flag: string | undefined,
  config: NodeConfig,
  env: Record<string, string | undefined>,
): string {
  if (flag) return parseUrlFlag("server", flag);
  if (config.server) return config.server;
  if (env.INFERNET_SERVER) return parseUrlFlag("server", env.INFERNET_SERVER);
  throw new CliError("config", "no control plane configured: pass --server URL (it is then remembered)");
}

/** Finds the engine (`--engine-url`, config, or the standard ports) or fails with what to do. */
export async function requireEngine(flag: string | undefined, config: NodeConfig): Promise<DetectedEngine> {
  const engineUrl = flag ? parseUrlFlag("engine-url", flag) : config.engineUrl ?? undefined;
  const engine = await detectEngine({ engineUrl });
  if (engine) {
    if (engine.models.length === 0) {
      throw new CliError("no_engine", `the engine at ${engine.baseUrl} serves no models; load a model first`);
    }
    return engine;
  }
  throw new CliError(
    "no_engine",
    engineUrl
      ? `no OpenAI-compatible engine answers at ${engineUrl}`
      : "no inference engine found on 11434 (Ollama), 8000 (vLLM), 30000 (SGLang) or 8080 (llama.cpp); " +
        "start one, pass --engine-url URL, or serve a GGUF on the CPU: infernet start --model FILE.gguf " +
        "(the built-in engine; --model tiny for a small test model)",
  );
}
