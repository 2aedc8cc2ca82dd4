// Runs the vendors' tools (nvidia-smi, rocm-smi, system_profiler) without ever prompting for a
// permission or hanging: a missing or ungranted tool is absent, a stuck one is killed.

/** Runs a tool and returns its exit code and stdout, or null when the tool is not installed. */
export type CommandRunner = (cmd: string, args: string[]) => Promise<{ code: number; stdout: string } | null>;

/** How long one tool may run before it is killed. */
export const COMMAND_TIMEOUT_MS = 5_000;

const KILL_GRACE_MS = 1_000;

/** What a tool that failed to run (or was killed) counts as. */
export const failed = (): { code: number; stdout: string } => ({ code: -1, stdout: "" });

function isMissingTool(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable;
}

/** Makes a runner on Deno.Command that never prompts for permission and kills a tool after `timeoutMs`. */
export function createCommandRunner(
  timeoutMs = COMMAND_TIMEOUT_MS,
  killGraceMs = KILL_GRACE_MS,
): CommandRunner {
  return async (cmd, args) => {
    let child: Deno.ChildProcess;
    try {
      // An ungranted command would prompt the operator; treat it as absent instead.
      if (Deno.permissions.querySync({ name: "run", command: cmd }).state !== "granted") return null;
      child = new Deno.Command(cmd, {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "null",
        signal: AbortSignal.timeout(timeoutMs),
      }).spawn();
    } catch (err) {
      return isMissingTool(err) ? null : failed();
    }
    // SIGTERM at the timeout; a tool that ignores it is killed and abandoned after a grace period.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs + killGraceMs);
    });
    try {
      const out = await Promise.race([child.output(), deadline]);
      if (out === null) {
        killQuietly(child);
        return failed();
      }
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    } catch {
      return failed();
    } finally {
      clearTimeout(timer);
    }
  };
}

function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
}

/** The default runner: Deno.Command, each tool bounded by COMMAND_TIMEOUT_MS. */
export const runCommand: CommandRunner = createCommandRunner();
