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

/**
 * Starts `web/main.ts` on a free loopback port with `env` over quiet, test-sized defaults. A process
 * that exits before it listens is started once more, its stderr printed: one CI run saw an instance
 * end within a second of its start, beside a sibling starting on the same database, and never again
 * in 21 tries (6 quiet, 15 with both cores busy).
 */
export async function startControlPlaneProcess(env: Record<string, string>): Promise<ControlPlaneProcess> {
  try {
    return await startOnce(env);
  } catch (e) {
    if (!(e instanceof ExitedBeforeListening)) throw e;
    console.warn(`control plane exited before it listened; starting it again. ${e.message}`);
    return await startOnce(env);
  }
}

class ExitedBeforeListening extends Error {}

async function startOnce(env: Record<string, string>): Promise<ControlPlaneProcess> {
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
    try {
      child.kill("SIGKILL");
    } catch {
      // It ended before it listened: its stderr says why.
    }
    const status = await child.status;
    const exited = status.signal !== "SIGKILL";
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    const why = `control plane did not start (exit ${status.code}, signal ${status.signal}): ${
      (e as Error).message
    }\nstderr:\n${err.text()}`;
    throw exited ? new ExitedBeforeListening(why) : new Error(why);
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
