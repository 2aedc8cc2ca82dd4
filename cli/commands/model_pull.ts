// `infernet model pull`: a GGUF from the Hugging Face Hub into $INFERNET_HOME/models (the quant
// that fits the node, resumable), or a model into Ollama through its own API.
import { CliError } from "../cli_error.ts";
import { hubOptionsFromEnv, parseHubRef } from "../models/hub.ts";
import { ollamaPull } from "../models/ollama.ts";
import { ProgressBar } from "../models/progress.ts";
import { type HubPullResult, pullFromHub, type PullReporter } from "../models/pull.ts";
import { formatBytes } from "../models/quant.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { positiveInt } from "./flags.ts";
import { findEngine, parseWithNames } from "./model_args.ts";
import { MEMORY_FLAGS, nodeMemory } from "./node_memory.ts";

const encoder = new TextEncoder();
const stderrLine = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

// Ctrl-C aborts the transfer (the .part stays for the next run) instead of killing the process.
async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctrl = new AbortController();
  const onSigint = () => ctrl.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    return await fn(ctrl.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

function barReporter(quiet: boolean): PullReporter {
  return {
    start(label) {
      if (quiet) return { update() {}, finish() {} };
      const bar = new ProgressBar(label);
      return {
        update: (p) => bar.update(p.doneBytes, p.totalBytes),
        finish: (outcome) => bar.finish(outcome),
      };
    },
    warn: (message) => stderrLine(`infernet: warning: ${message}`),
  };
}

function pullJson(r: HubPullResult) {
  return {
    source: "hf",
    repo: r.repo,
    quant: r.quant,
    picked_by: r.pickedBy,
    budget_bytes: r.budget.bytes,
    budget_kind: r.budget.kind,
    total_bytes: r.totalBytes,
    files: r.files.map((f) => ({
      file: f.file,
      path: f.path,
      bytes: f.bytes,
      sha256: f.sha256,
      resumed_from_bytes: f.resumedFromBytes,
      already_present: f.alreadyPresent,
    })),
  };
}

/** Runs `infernet model pull <name>`. */
export async function runPull(ctx: CommandContext, args: string[]): Promise<void> {
  const { flags, names } = parseWithNames("pull", args, {
    ...MEMORY_FLAGS,
    quant: { type: "string" },
    retries: { type: "string" },
    json: { type: "boolean" },
  }, 1);
  const name = names[0];
  const ref = parseHubRef(name);
  const { home } = await loadNodeConfig(ctx);
  const retries = flags.retries === "0" ? 0 : positiveInt("retries", flags.retries);
  if (ref === null) return await pullThroughOllama(ctx, name, !!flags.json);
  const memory = ref.file === null && !flags.quant ? await nodeMemory(flags) : { vramMb: 0, ramMb: 0 };
  const result = await withInterrupt((signal) =>
    pullFromHub({
      home,
      hub: hubOptionsFromEnv(ctx.env),
      ref,
      memory,
      quant: flags.quant,
      reporter: barReporter(!!flags.json),
      signal,
      retries,
    })
  );
  if (flags.json) {
    ctx.print(JSON.stringify(pullJson(result)));
    return;
  }
  const why = result.pickedBy === "memory"
    ? ` — the best quant within ${
      formatBytes(result.budget.bytes)
    } of usable ${result.budget.kind.toUpperCase()}`
    : "";
  ctx.print(
    `pulled hf:${result.repo} ${result.quant ?? ""} (${formatBytes(result.totalBytes)})${why}`.replace(
      "  ",
      " ",
    ),
  );
  for (const f of result.files) {
    ctx.print(`  ${f.path}  sha256 ${f.sha256}${f.alreadyPresent ? "  (already present)" : ""}`);
  }
}

async function pullThroughOllama(ctx: CommandContext, model: string, json: boolean): Promise<void> {
  const engine = await findEngine(ctx);
  if (engine?.kind !== "ollama") {
    throw new CliError(
      "usage",
      `'${model}' is not a Hugging Face name and ${
        engine ? `the engine is ${engine.kind}, not Ollama` : "no Ollama engine was found"
      }: use hf:org/repo[:file]`,
    );
  }
  const bar = json ? null : new ProgressBar(model);
  await withInterrupt(async (signal) => {
    try {
      await ollamaPull({
        baseUrl: engine.baseUrl,
        model,
        signal,
        onProgress: (p) => bar?.update(p.doneBytes, p.totalBytes),
      });
      bar?.finish("done");
    } catch (err) {
      bar?.finish("stopped");
      throw err;
    }
  });
  if (json) ctx.print(JSON.stringify({ source: "ollama", model, engine_url: engine.baseUrl }));
  else ctx.print(`pulled ${model} into Ollama at ${engine.baseUrl}`);
}
