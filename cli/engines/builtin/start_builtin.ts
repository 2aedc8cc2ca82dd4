// The fallback of `infernet start` and `infernet engine detect`: when no external engine runs and a
// model file is configured (`--model`, config `builtin_model`), the built-in engine serves it on a
// free local port inside the daemon's process. node-llama-cpp (a native addon) is imported only
// here and only then, so a node with an external engine never loads it.
import { CliError } from "../../cli_error.ts";
import type { DetectedEngine } from "../detect.ts";

/** The model name that means "the generated tiny test model", written to `$INFERNET_HOME/models/`. */
export const TINY_MODEL = "tiny";

/** The built-in engine, running. */
export interface RunningBuiltin {
  engine: DetectedEngine;
  close(): Promise<void>;
}

/** The file a configured model names: a path as given, or the tiny model's place in the node's home. */
export function builtinModelPath(model: string, home: string): string {
  return model === TINY_MODEL ? `${home}/models/infernet-tiny.gguf` : model;
}

/** What `engine detect` reports for a configured model, without loading it. */
export function plannedBuiltin(model: string, home: string): DetectedEngine & { modelPath: string } {
  const modelPath = builtinModelPath(model, home);
  const id = modelPath.split("/").pop()!.replace(/\.gguf$/i, "");
  return { kind: "builtin", baseUrl: "", modelPath, models: [{ id, contextLength: null }] };
}

/** Loads the model and serves it on 127.0.0.1 (a free port); fails as one CliError line. */
export async function startBuiltinEngine(model: string, home: string): Promise<RunningBuiltin> {
  const modelPath = builtinModelPath(model, home);
  try {
    if (model === TINY_MODEL) {
      const { writeTinyGguf } = await import("./tiny_gguf.ts");
      await Deno.mkdir(`${home}/models`, { recursive: true });
      await writeTinyGguf(modelPath);
    }
    const { LlamaEngine } = await import("./llama_engine.ts");
    const { serveBuiltinEngine } = await import("./server.ts");
    const engine = await LlamaEngine.load({ modelPath });
    const server = serveBuiltinEngine(engine);
    return {
      engine: {
        kind: "builtin",
        baseUrl: server.url,
        models: [{ id: engine.modelId, contextLength: engine.contextSize }],
      },
      close: () => server.close(),
    };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new CliError("no_engine", `the built-in engine's model file ${modelPath} does not exist`);
    }
    throw new CliError(
      "no_engine",
      `the built-in engine (llama.cpp via node-llama-cpp) cannot serve ${modelPath}: ${
        (err as Error).message
      }`,
    );
  }
}
