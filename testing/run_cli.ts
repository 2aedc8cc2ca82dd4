// Runs the `infernet` CLI from source exactly as an operator does (`deno task infernet …`, with
// the task's own explicit permissions), for tests of either program.

const DENO_JSON = new URL("../deno.json", import.meta.url).pathname;

/** What a CLI run printed and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `deno task infernet` command line (for spawning long-running commands like `start`). */
export function cliCommand(args: string[], env: Record<string, string>): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "--config", DENO_JSON, "infernet", ...args],
    env: { DENO: Deno.execPath(), ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs a CLI command to completion. */
export async function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const out = await cliCommand(args, env).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Collects a child's output as it comes; `waitFor` a line (bounded in time) while it keeps running. */
export function watchOutput(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return {
    done,
    text: () => text,
    async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const m = text.match(pattern);
        if (m) return m;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`the CLI never printed ${pattern}; it printed:\n${text}`);
    },
  };
}
