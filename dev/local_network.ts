// `deno task start`: a whole network on one machine. Runs the `infernet` daemon as its own
// process (exactly as an operator would), attached to a detected engine — or, when none runs
// here, to the built-in engine (llama.cpp on the CPU) serving a downloaded GGUF from the node's
// models folder, else the generated tiny model (real inference, gibberish output) — or, when the
// built-in engine cannot load (node-llama-cpp missing or refusing), the repository's test
// engine. Each is said plainly.
import type { ControlPlane } from "../web/control_plane.ts";
import { denoTaskCommand, watchOutput } from "../testing/child_output.ts";
import { sleep } from "../shared/mod.ts";

/** The local node and what it serves. */
export interface LocalNetwork {
  description: string;
  models: string[];
  stop(): Promise<void>;
}

function denoTask(
  args: string[],
  opts: { stdout?: "piped" | "inherit"; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return denoTaskCommand(args, { stdout: opts.stdout ?? "inherit", env: opts.env }).spawn();
}

// The first downloaded GGUF under the node's models folder (`infernet model pull`), if any.
async function downloadedModel(dir: string): Promise<string | null> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return null;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = `${dir}/${e.name}`;
    if (e.isFile && e.name.endsWith(".gguf") && e.name !== "infernet-tiny.gguf") return path;
    if (e.isDirectory) {
      const found = await downloadedModel(path);
      if (found) return found;
    }
  }
  return null;
}

/** Starts a node daemon (with the built-in or test engine if no engine runs) against this control plane. */
export async function startLocalNetwork(
  cp: ControlPlane,
  opts: { serverUrl: string; dataDir: string; relays?: string[] },
): Promise<LocalNetwork> {
  const relayArgs = (opts.relays ?? []).flatMap((url) => ["--relay", url]);
  const home = await Deno.realPath(opts.dataDir) + "/node";
  const env = { INFERNET_HOME: home };
  const children: Deno.ChildProcess[] = [];
  try {
    await Deno.stat(`${home}/node.key`);
  } catch {
    const init = denoTask(["infernet", "init", "--json"], { stdout: "piped", env });
    await init.output();
  }
  const detect = denoTask(["infernet", "engine", "detect", "--json"], { stdout: "piped", env });
  const found = JSON.parse(new TextDecoder().decode((await detect.output()).stdout) || "null");
  let engineUrl: string;
  let description: string;
  const waitOnline = async (child: Deno.ChildProcess): Promise<string[] | null> => {
    let exited = false;
    void child.status.then(() => exited = true);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !exited) {
      const live = cp.registry.all().find((n) => n.connection?.open);
      if (live) return live.record.models.map((m) => m.id);
      await sleep(100);
    }
    return exited ? null : [];
  };
  if (!found || found.kind === "builtin") {
    const model = found?.modelPath ?? await downloadedModel(`${home}/models`) ?? "tiny";
    const daemon = denoTask(
      ["infernet", "start", "--server", opts.serverUrl, "--model", model, ...relayArgs],
      {
        stdout: "piped",
        env,
      },
    );
    void daemon.stdout.pipeTo(Deno.stdout.writable, { preventClose: true }).catch(() => {});
    const models = await waitOnline(daemon);
    if (models !== null) {
      const what = model === "tiny"
        ? "the generated tiny model (real llama.cpp inference, gibberish text)"
        : model;
      return {
        description:
          `BUILT-IN ENGINE (llama.cpp on the CPU) serving ${what} — no inference engine runs here (Ollama 11434, vLLM 8000, SGLang 30000, llama.cpp 8080)${
            models.length ? "" : " — the node did not come online within 30 s; see its messages above"
          }`,
        models,
        async stop() {
          try {
            daemon.kill("SIGTERM");
          } catch {
            // Already gone.
          }
          await daemon.status;
        },
      };
    }
    console.error("the built-in engine could not start (see above); falling back to the test engine");
  }
  if (found && found.kind !== "builtin") {
    engineUrl = found.baseUrl;
    description = `${found.kind} at ${engineUrl}`;
  } else {
    const engine = denoTask(["test-engine", "--port", "0"], { stdout: "piped" });
    children.push(engine);
    engineUrl = JSON.parse(await watchOutput(engine.stdout).firstLine()).url;
    description =
      `TEST ENGINE at ${engineUrl} — no inference engine runs here (Ollama 11434, vLLM 8000, SGLang 30000, llama.cpp 8080), so the deterministic test engine answers (it echoes; it is not a real model)`;
  }
  const daemon = denoTask([
    "infernet",
    "start",
    "--server",
    opts.serverUrl,
    "--engine-url",
    engineUrl,
    ...relayArgs,
  ], {
    stdout: "piped",
    env,
  });
  children.push(daemon);
  void daemon.stdout.pipeTo(Deno.stdout.writable, { preventClose: true }).catch(() => {});
  const deadline = Date.now() + 30_000;
  let models: string[] = [];
  while (Date.now() < deadline) {
    const live = cp.registry.all().find((n) => n.connection?.open);
    if (live) {
      models = live.record.models.map((m) => m.id);
      break;
    }
    await sleep(100);
  }
  if (models.length === 0) {
    description += " — the node did not come online within 30 s; see its messages above";
  }
  return {
    description,
    models,
    async stop() {
      for (const child of children.reverse()) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Already gone.
        }
        await child.status;
      }
    },
  };
}
