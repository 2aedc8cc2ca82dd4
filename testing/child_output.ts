// Spawning this repo's deno tasks and scripts in tests, benches and the dev launcher, and waiting
// for what they print (an address, a banner) while their output keeps draining, so a child never
// blocks on a full pipe.
import { sleep } from "../shared/mod.ts";

const DENO_JSON = new URL("../deno.json", import.meta.url).pathname;

/** How to run a child: its extra environment and what becomes of its output. */
export interface ChildOptions {
  env?: Record<string, string>;
  stdout?: "piped" | "inherit" | "null";
  stderr?: "piped" | "inherit" | "null";
}

/** `deno task --quiet <args>` against this repo's deno.json, with `DENO` set for nested tasks. */
export function denoTaskCommand(args: string[], opts: ChildOptions = {}): Deno.Command {
  return denoCommand(["task", "--quiet", "--config", DENO_JSON, ...args], opts);
}

/** `deno <args>` with this Deno; stdout piped and stderr inherited unless asked otherwise. */
export function denoCommand(args: string[], opts: ChildOptions = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args,
    env: { DENO: Deno.execPath(), ...opts.env },
    stdin: "null",
    stdout: opts.stdout ?? "piped",
    stderr: opts.stderr ?? "inherit",
  });
}

/** A child's output as it comes: all of it (or its tail), and a way to wait for a pattern in it. */
export interface WatchedOutput {
  /** Settles when the stream ends. */
  done: Promise<void>;
  /** What has been printed so far (the last `keepChars` characters). */
  text(): string;
  /** The first match of `pattern` in the text; throws after `timeoutMs`, or once the stream ends. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The first whole line printed (an address, "connected"), without its newline. */
  firstLine(timeoutMs?: number): Promise<string>;
}

/** Reads `stream` to its end in the background and keeps its text for `waitFor`. */
export function watchOutput(
  stream: ReadableStream<Uint8Array>,
  opts: { keepChars?: number } = {},
): WatchedOutput {
  const keep = opts.keepChars ?? Infinity;
  let text = "";
  let ended = false;
  const done = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > keep) text = text.slice(-keep);
      }
    } catch {
      // The child was killed mid-write: what was read is kept.
    } finally {
      ended = true;
    }
  })();
  const waitFor = async (pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = text.match(pattern);
      if (m) return m;
      if (ended) throw new Error(`the output ended without ${pattern}; it was:\n${text}`);
      if (Date.now() >= until) {
        throw new Error(`no ${pattern} within ${timeoutMs} ms; the output was:\n${text}`);
      }
      await sleep(20);
    }
  };
  return {
    done,
    text: () => text,
    waitFor,
    firstLine: async (timeoutMs) => (await waitFor(/^[^\n]*(?=\n)/, timeoutMs))[0],
  };
}
