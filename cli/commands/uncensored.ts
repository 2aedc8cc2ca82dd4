// `infernet uncensored [--dry-run] [--json] [--vram-mb N] [--ram-mb N] [--engine-url URL]`:
// picks the best uncensored model for this node (cli/models/uncensored.ts), pulls it and sets
// the node up to serve it. With Ollama as the engine the pull goes through Ollama
// (`hf.co/<repo>:<quant>`, which Ollama fetches from the hub itself); otherwise the GGUF is
// pulled into $INFERNET_HOME/models and config.json's `builtin_model` points the built-in engine
// at it (only that key is written; every other setting is kept as it is).
import { CliError } from "../cli_error.ts";
import { parseUrlFlag } from "../config.ts";
import { detectEngine } from "../engines/detect.ts";
import { hubOptionsFromEnv, parseHubRef } from "../models/hub.ts";
import { ollamaPull } from "../models/ollama.ts";
import { pullFromHub } from "../models/pull.ts";
import { formatBytes } from "../models/quant.ts";
import { pickUncensored } from "../models/uncensored.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { MEMORY_FLAGS, nodeMemory } from "./node_memory.ts";

/** Sets one key of config.json, keeping the rest of the file as it is. */
export async function setConfigKey(home: string, key: string, value: unknown): Promise<void> {
  const path = `${home}/config.json`;
  let raw: Record<string, unknown> = {};
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new CliError("config", `cannot update ${path}: ${(err as Error).message}`);
    }
  }
  await Deno.mkdir(home, { recursive: true });
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify({ ...raw, [key]: value }, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, path);
}

/** Runs `infernet uncensored`. */
export async function runUncensored(ctx: CommandContext): Promise<void> {
  const f = parseFlags("uncensored", ctx.args, {
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
    ...MEMORY_FLAGS,
    "engine-url": { type: "string" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const memory = await nodeMemory(f);
  const pick = pickUncensored(memory);
  if (!pick) {
    throw new CliError(
      "no_fitting_quant",
      `no model of the uncensored list fits this node (${memory.vramMb} MB VRAM, ${memory.ramMb} MB RAM)`,
    );
  }
  const engineUrl = f["engine-url"]
    ? parseUrlFlag("engine-url", f["engine-url"])
    : config.engineUrl ?? undefined;
  const engine = await detectEngine({ engineUrl });
  const viaOllama = engine?.kind === "ollama";
  const ollamaName = `hf.co/${pick.repo}:${pick.quant}`;
  const plan = {
    repo: pick.repo,
    file: pick.file,
    quant: pick.quant,
    approx_bytes: pick.approxBytes,
    params_b: pick.paramsB,
    note: pick.note,
    engine: viaOllama ? "ollama" : "builtin",
    ...(viaOllama ? { ollama_model: ollamaName, engine_url: engine!.baseUrl } : {}),
  };
  if (!f.json) {
    ctx.print(
      `picked ${pick.repo} ${pick.quant} (~${formatBytes(pick.approxBytes)}, ${pick.paramsB}B): ${pick.note}`,
    );
    if (memory.vramMb === 0) {
      ctx.print(
        `no GPU found: sized for ${memory.ramMb} MB of RAM instead; the built-in engine runs it on the CPU, ` +
          "slowly (--ram-mb N to pick a smaller one)",
      );
    }
  }
  if (f["dry-run"]) {
    if (f.json) ctx.print(JSON.stringify({ ...plan, dry_run: true }));
    else {ctx.print(
        viaOllama
          ? `would pull ${ollamaName} into Ollama`
          : `would pull hf:${pick.repo}:${pick.file} and set builtin_model`,
      );}
    return;
  }
  if (viaOllama) {
    await ollamaPull({ baseUrl: engine!.baseUrl, model: ollamaName });
    if (f.json) ctx.print(JSON.stringify(plan));
    else {ctx.print(
        `pulled ${ollamaName} into Ollama at ${engine!.baseUrl}; the daemon advertises it at its next start`,
      );}
    return;
  }
  const result = await pullFromHub({
    home,
    hub: hubOptionsFromEnv(ctx.env),
    ref: parseHubRef(`hf:${pick.repo}:${pick.file}`)!,
    memory,
  });
  const path = result.files[0].path;
  await setConfigKey(home, "builtin_model", path);
  if (f.json) ctx.print(JSON.stringify({ ...plan, path, sha256: result.files[0].sha256 }));
  else ctx.print(`pulled to ${path}; config.json builtin_model set — restart the daemon to serve it`);
}
