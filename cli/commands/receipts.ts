// `infernet receipts verify <file|url>`: checks job receipts offline, trusting nothing but the
// keys (docs/protocol.md §11); one line per problem, a summary, exit 1 when anything is wrong.
import { CliHelp, wantsHelp } from "./flags.ts";
import { parseArgs } from "node:util";
import { parseOperatorKey } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { fastestVerifier } from "../receipts/event_verifier.ts";
import { fetchPlatformKey, fetchReceipts, parseReceiptsText } from "../receipts/receipt_input.ts";
import { type ReceiptSet, verifyReceipts } from "../receipts/verify_receipts.ts";
import type { CommandContext } from "./context.ts";

const USAGE = "usage: infernet receipts verify <file|url> [--platform-key <npub|hex>] [--json]";

function parse(args: string[]) {
  if (wantsHelp(args)) throw new CliHelp(USAGE);
  try {
    return parseArgs({
      args,
      options: { "platform-key": { type: "string" }, json: { type: "boolean" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    const message = (err as Error).message.split("\n").map((l) => l.trim()).filter(Boolean).join(" ");
    throw new CliError("usage", `receipts verify: ${message}`);
  }
}

function asUrl(source: string): URL | null {
  if (!/^https?:\/\//i.test(source)) return null;
  try {
    return new URL(source);
  } catch {
    throw new CliError("usage", `receipts verify: ${source} is not a valid URL`);
  }
}

async function readSource(source: string): Promise<string> {
  try {
    return source === "-" ? await new Response(Deno.stdin.readable).text() : await Deno.readTextFile(source);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new CliError("usage", `receipts verify: no file ${source}`);
    }
    throw err;
  }
}

/** Runs `infernet receipts …`. */
export async function runReceipts(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  if (sub !== "verify") throw new CliError("usage", USAGE);
  const { values: f, positionals } = parse(rest);
  if (positionals.length !== 1) throw new CliError("usage", USAGE);
  const source = positionals[0];
  let platformKey: string | undefined;
  if (f["platform-key"] !== undefined) {
    platformKey = parseOperatorKey(f["platform-key"]) ?? undefined;
    if (!platformKey) throw new CliError("usage", "--platform-key must be an npub or 64 hex characters");
  }
  const url = asUrl(source);
  let set: ReceiptSet;
  if (url) {
    set = await fetchReceipts(url);
    platformKey ??= await fetchPlatformKey(url.origin);
  } else set = parseReceiptsText(await readSource(source));

  const backend = await fastestVerifier();
  const report = verifyReceipts(set, { platformPubkey: platformKey, verifyEvent: backend.verify });
  const unchecked = platformKey === undefined;
  if (f.json) {
    ctx.print(JSON.stringify({
      receipts: report.receipts,
      problems: report.problems,
      platform_key: platformKey ?? null,
      platform_signers: report.platformSigners,
      platform_key_checked: !unchecked,
    }));
  } else {
    for (const p of report.problems) ctx.print(`${p.id}: ${p.problem}`);
    if (unchecked && report.platformSigners.length > 0) {
      ctx.print(
        `note: platform receipts signed by ${report.platformSigners.join(", ")}, ` +
          "unchecked against a known key (pass --platform-key)",
      );
    }
    const n = report.problems.length;
    ctx.print(`${report.receipts} receipts, ${n} problem${n === 1 ? "" : "s"}`);
  }
  if (report.problems.length > 0) {
    throw new CliError(
      "receipts_invalid",
      `the receipts do not check out (${report.problems.length} problems)`,
    );
  }
}
