// `infernet earnings`: what this node earned per day (settled jobs), what is pending payout, in
// flight and paid, and what was paid in each coin.
import { CliError } from "../cli_error.ts";
import { loadIdentity } from "../identity/node_key.ts";
import { readNodeAnswer, signedGet } from "../daemon/signed_request.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { formatTable } from "./table.ts";

interface EarningsView {
  pending_usd: string;
  in_flight_usd: string;
  paid_usd: string;
  min_payout_usd: string;
  auto_payout_usd: string | null;
  days: { day: string; earned_usd: string; jobs: number }[];
  coins: { coin: string; paid_usd: string; in_flight_usd: string; paid_crypto: string }[];
}

function parseEarnings(x: Record<string, unknown>): EarningsView {
  const ok =
    ["pending_usd", "in_flight_usd", "paid_usd", "min_payout_usd"].every((k) => typeof x[k] === "string") &&
    Array.isArray(x.days) && Array.isArray(x.coins);
  if (!ok) throw new CliError("server_refused", "the server sent earnings this CLI cannot read");
  return x as unknown as EarningsView;
}

/** Runs `infernet earnings`. */
export async function runEarnings(ctx: CommandContext): Promise<void> {
  const f = parseFlags("earnings", ctx.args, { server: { type: "string" }, json: { type: "boolean" } });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await loadIdentity(home);
  const server = resolveServer(f.server, config, ctx.env);
  const e = parseEarnings(
    await readNodeAnswer(
      await signedGet(server, "/api/nodes/earnings", identity.secretKey),
      "cannot read earnings",
    ),
  );
  if (f.json) {
    ctx.print(JSON.stringify(e));
    return;
  }
  const auto = e.auto_payout_usd ? `; paid automatically at $${e.auto_payout_usd}` : "";
  ctx.print(`pending:    $${e.pending_usd} (minimum payout $${e.min_payout_usd}${auto})`);
  ctx.print(`in flight:  $${e.in_flight_usd}`);
  ctx.print(`paid:       $${e.paid_usd}`);
  ctx.print("");
  if (e.days.length === 0) ctx.print("no settled jobs in the last 30 days");
  else {
    const rows = [["DAY (UTC)", "EARNED", "JOBS"]];
    for (const d of e.days) rows.push([d.day, `$${d.earned_usd}`, String(d.jobs)]);
    for (const line of formatTable(rows)) ctx.print(line);
  }
  if (e.coins.length > 0) {
    ctx.print("");
    const rows = [["COIN", "PAID", "IN FLIGHT", "PAID IN COIN"]];
    for (const c of e.coins) rows.push([c.coin, `$${c.paid_usd}`, `$${c.in_flight_usd}`, c.paid_crypto]);
    for (const line of formatTable(rows)) ctx.print(line);
  }
}
