// A control plane as its own process (`deno task serve`'s entry and permissions), for tests that
// run several instances on one database, or kill one with SIGKILL.
import { denoCommand, watchOutput } from "./child_output.ts";

const MAIN = new URL("../web/main.ts", import.meta.url).pathname;
const DENO_JSON = new URL("../deno.json", import.meta.url).pathname;

/** A running control-plane process. */
export interface ControlPlaneProcess {
  /** Where it listens (http://127.0.0.1:port). */
  url: string;
  child: Deno.ChildProcess;
  /** What it printed on stderr so far (for failure messages). */
  stderr(): string;
  /** SIGTERM (it drains), SIGKILL after 10 s; removes its data directory. */
  stop(): Promise<void>;
}

/** Starts `web/main.ts` on a free loopback port with `env` over quiet, test-sized defaults. */
export async function startControlPlaneProcess(env: Record<string, string>): Promise<ControlPlaneProcess> {
  const dataDir = await Deno.makeTempDir({ prefix: "infernet-cp-" });
  const child = denoCommand([
    "run",
    "--config",
    DENO_JSON,
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    "--allow-run",
    MAIN,
  ], {
    env: {
      PORT: "0",
      INFERNET_DATA_DIR: dataDir,
      INFERNET_LOG_LEVEL: Deno.env.get("INFERNET_TEST_LOG_LEVEL") ?? "warn",
      INFERNET_PGLITE_IDLE: "0",
      INFERNET_CANARY_RATE: "0",
      INFERNET_DRAIN_DELAY_MS: "0",
      ...env,
    },
    stderr: "piped",
  }).spawn();
  const out = watchOutput(child.stdout, { keepChars: 20_000 });
  const err = watchOutput(child.stderr, { keepChars: 20_000 });
  let url: string;
  try {
    url = (await out.waitFor(/Listening on (http:\/\/\S+)/, 60_000))[1];
  } catch (e) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`control plane did not start: ${(e as Error).message}\nstderr:\n${err.text()}`);
  }
  let stopped: Promise<void> | null = null;
  return {
    url,
    child,
    stderr: err.text,
    stop: () =>
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // Already exited (killed by the test).
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Exited meanwhile.
          }
        }, 10_000);
        await child.status;
        clearTimeout(timer);
        await Promise.all([out.done, err.done]);
        await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      })(),
  };
}
