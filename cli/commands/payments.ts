// `infernet payments list`: this node's payout history (when, coin, USD, crypto amount, status,
// tx hash), as the control plane records it.
import { CliError } from "../cli_error.ts";
import { loadIdentity } from "../identity/node_key.ts";
import { readNodeAnswer, signedGet } from "../daemon/signed_request.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { formatTable } from "./table.ts";

/** A payout as the node API sends it (snake_case, USD as decimal strings). */
export interface PayoutView {
  id: number;
  coin: string;
  address: string;
  amount_usd: string;
  usd_per_unit: string | null;
  crypto_amount: string | null;
  status: string;
  tx_hash: string | null;
  error: string | null;
  automatic: boolean;
  created_at: string;
  finished_at: string | null;
}

/** Checks the fields this CLI shows; the server's answer is outside input. */
export function parsePayoutView(x: unknown): PayoutView {
  const p = x as Record<string, unknown> | null;
  const ok = typeof p === "object" && p !== null && typeof p.id === "number" &&
    ["coin", "address", "amount_usd", "status", "created_at"].every((k) => typeof p[k] === "string");
  if (!ok) throw new CliError("server_refused", "the server sent a payout this CLI cannot read");
  return p as unknown as PayoutView;
}

/** `2026-11-25T08:05:56.123Z` → `2026-11-25 08:05`. */
export function shortTime(iso: string): string {
  return iso.slice(0, 16).replace("T", " ");
}

/** The crypto side of a payout, e.g. `0.00025773 BTC`, or `-` when no rate was known. */
export function cryptoText(p: PayoutView): string {
  return p.crypto_amount ? `${p.crypto_amount} ${p.coin}` : "-";
}

/** Runs `infernet payments list`. */
export async function runPayments(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  if (sub !== "list") {
    throw new CliError("usage", "usage: infernet payments list [--json] [--server URL]");
  }
  const f = parseFlags("payments list", rest, { server: { type: "string" }, json: { type: "boolean" } });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await loadIdentity(home);
  const server = resolveServer(f.server, config, ctx.env);
  const answer = await readNodeAnswer(
    await signedGet(server, "/api/nodes/payouts", identity.secretKey),
    "cannot list payouts",
  );
  if (!Array.isArray(answer.payouts)) throw new CliError("server_refused", "the server sent no payout list");
  const payouts = answer.payouts.map(parsePayoutView);
  if (f.json) {
    ctx.print(JSON.stringify({ payouts }));
    return;
  }
  if (payouts.length === 0) {
    ctx.print("no payouts yet; request one with: infernet payout request");
    return;
  }
  const rows = [["WHEN (UTC)", "ID", "COIN", "USD", "CRYPTO", "STATUS", "TX HASH / ERROR"]];
  for (const p of payouts) {
    rows.push([
      shortTime(p.created_at),
      `#${p.id}`,
      p.coin,
      `$${p.amount_usd}`,
      cryptoText(p),
      p.automatic ? `${p.status} (auto)` : p.status,
      p.tx_hash ?? p.error ?? "-",
    ]);
  }
  for (const line of formatTable(rows)) ctx.print(line);
}
