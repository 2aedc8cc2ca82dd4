// `infernet reputation <npub|hex> --relay URL --platform-key KEY`: a node's score from relays
// alone, with no control plane (docs/protocol.md §12): every platform receipt and verification of
// the node signed by KEY on the relays, with the node receipts they name, each checked and fed to
// formula 1 at --at (default: now − 60 s, as the control plane computes).
import { componentsToWire, fastestSecp256k1, parseOperatorKey } from "../../shared/mod.ts";
import { RelayPool, relayReputation } from "../../shared/relay/mod.ts";
import { CliError } from "../cli_error.ts";
import { parseRelayFlag } from "../config.ts";
import type { CommandContext } from "./context.ts";
import { formatTable } from "./table.ts";

/** The flags of relay mode. */
export interface RelayReputationFlags {
  relay: string[];
  "platform-key"?: string;
  at?: string;
  "half-life-s"?: string;
  json?: boolean;
}

function wholeFlag(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new CliError("usage", `reputation: --${name} must be an integer ≥ ${min}`);
  }
  return n;
}

const fmt = (x: number | null) => x === null ? "-" : Number(x.toPrecision(10)).toString();

/** Computes and prints `node`'s score from the relays. */
export async function runRelayReputation(
  ctx: CommandContext,
  node: string,
  flags: RelayReputationFlags,
): Promise<void> {
  const relays = [...new Set(flags.relay.map(parseRelayFlag))];
  if (flags["platform-key"] === undefined) {
    throw new CliError(
      "usage",
      "reputation: --relay needs --platform-key <npub|hex> (whose receipts to trust)",
    );
  }
  const platformKey = parseOperatorKey(flags["platform-key"]);
  if (!platformKey) throw new CliError("usage", "reputation: --platform-key must be an npub or hex key");
  const at = wholeFlag("at", flags.at, Math.floor(Date.now() / 1000) - 60, 0);
  const halfLifeS = wholeFlag("half-life-s", flags["half-life-s"], 604_800, 1);
  const pool = new RelayPool(relays, { verifyEvent: (await fastestSecp256k1()).verifyEvent });
  let rep;
  try {
    rep = await relayReputation(pool, node, platformKey, { at, halfLifeS });
  } finally {
    pool.close();
  }
  const { evidence } = rep;
  if (flags.json) {
    ctx.print(JSON.stringify({
      pubkey: node,
      formula: rep.formula,
      computed_at: at,
      half_life_s: halfLifeS,
      relays,
      score: rep.score,
      suspicion: rep.suspicion,
      reliability: rep.reliability,
      samples: rep.samples,
      components: componentsToWire(rep.components),
      receipts: evidence.receipts.length,
      verifications: evidence.verifications.length,
      skipped: evidence.skipped,
    }));
    return;
  }
  ctx.print(`node         ${node}`);
  ctx.print(`score        ${fmt(rep.score)}`);
  ctx.print(`reliability  ${fmt(rep.reliability)}`);
  ctx.print(`suspicion    ${fmt(rep.suspicion)}`);
  ctx.print(
    `evidence     ${fmt(rep.samples)} weighted receipts, from ${evidence.receipts.length} receipts and ` +
      `${evidence.verifications.length} verifications on ${relays.length} relays` +
      (evidence.skipped ? ` (${evidence.skipped} events failed their check and were skipped)` : ""),
  );
  ctx.print(`computed at  ${new Date(at * 1000).toISOString()} (half-life ${halfLifeS} s, formula 1)`);
  ctx.print("");
  const rows = [["COMPONENT", "WEIGHTED"]];
  for (const [k, v] of Object.entries(componentsToWire(rep.components))) rows.push([k, fmt(v)]);
  for (const line of formatTable(rows)) ctx.print(line);
}
