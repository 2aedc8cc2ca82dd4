// Flag parsing for commands (node:util parseArgs), with usage errors as CliErrors.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError } from "../cli_error.ts";

/** `--help` (or `-h`) on a command: main.ts prints `text` to stdout and exits 0. */
export class CliHelp extends Error {
  constructor(readonly text: string) {
    super(text);
    this.name = "CliHelp";
  }
}

/** Whether the arguments ask for the command's usage (`--help` or `-h`). */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

/** A command's usage line, from its flags. */
function usageOf(command: string, options: NonNullable<ParseArgsConfig["options"]>): string {
  const flags = Object.entries(options).map(([name, o]) =>
    `[--${name}${o.type === "string" ? " VALUE" : ""}]${o.multiple ? "..." : ""}`
  );
  return [
    `usage: infernet ${command} ${flags.join(" ")}`.trimEnd(),
    "(README.md and 'infernet help' say more)",
  ]
    .join("\n");
}

/** Parses a command's flags strictly; an unknown flag is a usage error naming the command. */
export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: O,
) {
  if (wantsHelp(args)) throw new CliHelp(usageOf(command, options));
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    // node:util's messages can span lines (hints about `--flag=-value`); the CLI prints one line.
    const message = (err as Error).message.split("\n").map((l) => l.trim()).filter(Boolean).join(" ");
    throw new CliError("usage", `${command}: ${message}`);
  }
}

/** Parses a positive integer flag. */
export function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError("usage", `--${name} must be a positive integer`);
  return n;
}
