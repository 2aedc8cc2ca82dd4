// `deno task start`: a whole network on one machine. Runs the `infernet` daemon as its own
// process (exactly as an operator would), attached to a detected engine — or, when none runs
// here, to the repository's test engine, which is said plainly.
import type { ControlPlane } from "./control_plane.ts";

const REPO = new URL("../", import.meta.url);

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
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "--config", new URL("deno.json", REPO).pathname, ...args],
    env: { DENO: Deno.execPath(), ...opts.env },
    stdout: opts.stdout ?? "inherit",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

/** Starts a node daemon (and the test engine if no engine runs) against this control plane. */
export async function startLocalNetwork(
  cp: ControlPlane,
  opts: { serverUrl: string; dataDir: string },
): Promise<LocalNetwork> {
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
  if (found) {
    engineUrl = found.baseUrl;
    description = `${found.kind} at ${engineUrl}`;
  } else {
    const engine = denoTask(["test-engine", "--port", "0"], { stdout: "piped" });
    children.push(engine);
    engineUrl = JSON.parse(await firstLine(engine.stdout)).url;
    description =
      `TEST ENGINE at ${engineUrl} — no inference engine runs here (Ollama 11434, vLLM 8000, SGLang 30000, llama.cpp 8080), so the deterministic test engine answers (it echoes; it is not a real model)`;
  }
  const daemon = denoTask(["infernet", "start", "--server", opts.serverUrl, "--engine-url", engineUrl], {
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
    await new Promise((r) => setTimeout(r, 100));
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
