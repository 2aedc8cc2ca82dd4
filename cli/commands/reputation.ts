// `infernet reputation <npub|hex>`: a node's published score, checked. Reads the server's score,
// then every receipt and verification of the node, verifies each signature against the platform's
// key, recomputes formula 1 (docs/protocol.md §12) at the server's own computed_at, and says
// whether the two agree (|Δ| ≤ 1e-9); exit 1 when they do not.
import { CliHelp, wantsHelp } from "./flags.ts";
import { parseArgs } from "node:util";
import {
  componentsToWire,
  computeReputation,
  parseOperatorKey,
  REPUTATION_FORMULA,
  scoresAgree,
} from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { fetchPlatformKey, fetchServerReputation, fetchVerifiedHistory } from "./reputation_history.ts";
import { formatTable } from "./table.ts";
import { runRelayReputation } from "./reputation_relay.ts";

const USAGE = "usage: infernet reputation <npub|hex> [--server URL | --relay URL... --platform-key KEY " +
  "[--at UNIX_S] [--half-life-s S]] [--json]";

function parse(args: string[]) {
  let parsed;
  if (wantsHelp(args)) throw new CliHelp(USAGE);
  try {
    parsed = parseArgs({
      args,
      options: {
        server: { type: "string" },
        json: { type: "boolean" },
        relay: { type: "string", multiple: true },
        "platform-key": { type: "string" },
        at: { type: "string" },
        "half-life-s": { type: "string" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new CliError("usage", `reputation: ${(err as Error).message.split("\n")[0]}; ${USAGE}`);
  }
  if (parsed.positionals.length !== 1) throw new CliError("usage", USAGE);
  const node = parseOperatorKey(parsed.positionals[0]);
  if (!node) throw new CliError("usage", `reputation: '${parsed.positionals[0]}' is not an npub or hex key`);
  return { node, flags: parsed.values };
}

const fmt = (x: number | null) => x === null ? "-" : Number(x.toPrecision(10)).toString();

/** Runs `infernet reputation`. */
export async function runReputation(ctx: CommandContext): Promise<void> {
  const { node, flags } = parse(ctx.args);
  if (flags.relay?.length) {
    if (flags.server !== undefined) {
      throw new CliError("usage", "reputation: --server and --relay exclude each other");
    }
    return await runRelayReputation(ctx, node, { ...flags, relay: flags.relay });
  }
  if (flags["platform-key"] !== undefined || flags.at !== undefined || flags["half-life-s"] !== undefined) {
    throw new CliError("usage", "reputation: --platform-key, --at and --half-life-s go with --relay URL");
  }
  const { config } = await loadNodeConfig(ctx);
  const server = resolveServer(flags.server, config, ctx.env);
  const platformKey = await fetchPlatformKey(server);
  const published = await fetchServerReputation(server, node);
  if (published.formula !== REPUTATION_FORMULA) {
    throw new CliError(
      "server_refused",
      `the server uses reputation formula ${published.formula}; this CLI knows ${REPUTATION_FORMULA} (upgrade it)`,
    );
  }
  const history = await fetchVerifiedHistory(server, node, platformKey);
  const time = { at: published.computedAt, halfLifeS: published.halfLifeS };
  const mine = computeReputation(history.receipts, history.verifications, time);
  const delta = Math.abs(mine.score - published.score);
  const agrees = scoresAgree(mine.score, published.score);

  if (flags.json) {
    ctx.print(JSON.stringify({
      pubkey: node,
      npub: published.npub,
      formula: REPUTATION_FORMULA,
      computed_at: time.at,
      half_life_s: time.halfLifeS,
      server: { score: published.score, suspicion: published.suspicion, reliability: published.reliability },
      recomputed: {
        score: mine.score,
        suspicion: mine.suspicion,
        reliability: mine.reliability,
        samples: mine.samples,
        components: componentsToWire(mine.components),
      },
      agrees,
      delta,
      receipts: history.receipts.length,
      verifications: history.verifications.length,
      chain_problems: history.chainProblems.map((p) => p.message),
    }));
  } else {
    ctx.print(`node         ${published.npub}`);
    ctx.print(`score        ${fmt(mine.score)}`);
    ctx.print(`reliability  ${fmt(mine.reliability)}`);
    ctx.print(`suspicion    ${fmt(mine.suspicion)}`);
    ctx.print(
      `evidence     ${fmt(mine.samples)} weighted receipts, from ${history.receipts.length} receipts and ` +
        `${history.verifications.length} verifications, every signature valid`,
    );
    ctx.print(
      `computed at  ${new Date(time.at * 1000).toISOString()} (half-life ${time.halfLifeS} s, formula 1)`,
    );
    ctx.print("");
    const rows = [["COMPONENT", "WEIGHTED"]];
    for (const [k, v] of Object.entries(componentsToWire(mine.components))) rows.push([k, fmt(v)]);
    for (const line of formatTable(rows)) ctx.print(line);
    ctx.print("");
    for (const p of history.chainProblems) ctx.print(`chain: ${p.message}`);
    ctx.print(
      agrees
        ? `agrees with the server's score ${fmt(published.score)} (|Δ| = ${delta.toExponential(1)})`
        : `DISAGREES with the server's score ${fmt(published.score)} (|Δ| = ${delta.toExponential(1)})`,
    );
  }
  if (!agrees) {
    throw new CliError(
      "reputation_disagrees",
      `the server's score ${published.score} differs from the one its receipts give, ${mine.score}`,
    );
  }
}
