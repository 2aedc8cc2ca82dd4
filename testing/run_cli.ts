// Runs the `infernet` CLI from source exactly as an operator does (`deno task infernet …`, with
// the task's own explicit permissions), for tests of either program.
import { denoTaskCommand } from "./child_output.ts";

/** What a CLI run printed and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `deno task infernet` command line (for spawning long-running commands like `start`). */
export function cliCommand(args: string[], env: Record<string, string>): Deno.Command {
  return denoTaskCommand(["infernet", ...args], { env, stderr: "piped" });
}

/** Runs a CLI command to completion. */
export async function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const out = await cliCommand(args, env).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
