// `infernet payout set|list|request`: where this node is paid, and asking for a payout now.
import { isCoin, SUPPORTED_COINS, validatePayoutAddress } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { loadIdentity } from "../identity/node_key.ts";
import { readNodeAnswer, signedGet, signedRequest } from "../daemon/signed_request.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { cryptoText, parsePayoutView, shortTime } from "./payments.ts";
import { formatTable } from "./table.ts";

const USAGE =
  "usage: infernet payout set --coin COIN --address ADDRESS | payout list | payout request [--coin COIN]";

function parseCoinFlag(value: string | undefined) {
  if (value === undefined) return undefined;
  const coin = value.toUpperCase();
  if (!isCoin(coin)) {
    throw new CliError("usage", `--coin must be one of ${SUPPORTED_COINS.join(", ")}; got '${value}'`);
  }
  return coin;
}

/** Runs `infernet payout …`. */
export async function runPayout(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  const common = { server: { type: "string" }, json: { type: "boolean" } } as const;
  if (sub === "set") {
    const f = parseFlags("payout set", rest, {
      ...common,
      coin: { type: "string" },
      address: { type: "string" },
    });
    const coin = parseCoinFlag(f.coin);
    if (!coin || !f.address) {
      throw new CliError("usage", "payout set needs --coin COIN and --address ADDRESS");
    }
    // Checked here for a quick answer, and again by the server before it stores anything.
    const check = validatePayoutAddress(coin, f.address.trim());
    if (!check.ok) throw new CliError("usage", `not a valid ${coin} address: ${check.reason}`);
    const { identity, server } = await connect(ctx, f.server);
    const answer = await readNodeAnswer(
      await signedRequest(server, "POST", "/api/nodes/payout-address", identity.secretKey, {
        coin,
        address: check.address,
      }),
      "payout address refused",
    );
    if (f.json) return ctx.print(JSON.stringify(answer));
    ctx.print(`payouts in ${answer.coin} go to ${answer.address}`);
    return;
  }
  if (sub === "list") {
    const f = parseFlags("payout list", rest, common);
    const { identity, server } = await connect(ctx, f.server);
    const answer = await readNodeAnswer(
      await signedGet(server, "/api/nodes/payout-addresses", identity.secretKey),
      "cannot list payout addresses",
    );
    const addresses = Array.isArray(answer.addresses) ? answer.addresses as Record<string, string>[] : [];
    if (f.json) return ctx.print(JSON.stringify({ addresses }));
    if (addresses.length === 0) {
      ctx.print("no payout address set; set one with: infernet payout set --coin BTC --address <address>");
      return;
    }
    const rows = [["COIN", "ADDRESS", "UPDATED (UTC)"]];
    for (const a of addresses) {
      rows.push([String(a.coin), String(a.address), shortTime(String(a.updated_at))]);
    }
    for (const line of formatTable(rows)) ctx.print(line);
    ctx.print(`payout request uses ${addresses[0].coin} unless --coin is given`);
    return;
  }
  if (sub === "request") {
    const f = parseFlags("payout request", rest, { ...common, coin: { type: "string" } });
    const coin = parseCoinFlag(f.coin);
    const { identity, server } = await connect(ctx, f.server);
    const answer = await readNodeAnswer(
      await signedRequest(server, "POST", "/api/nodes/payouts", identity.secretKey, coin ? { coin } : {}),
      "payout refused",
    );
    const p = parsePayoutView(answer.payout);
    if (f.json) ctx.print(JSON.stringify({ payout: p }));
    if (p.status === "failed") {
      throw new CliError(
        "server_refused",
        `payout #${p.id} failed: ${
          p.error ?? "the processor refused it"
        }; $${p.amount_usd} is back in your earnings`,
      );
    }
    if (f.json) return;
    ctx.print(`payout #${p.id}: $${p.amount_usd} in ${p.coin} (${cryptoText(p)}) to ${p.address}`);
    if (p.status === "completed") ctx.print(`completed; tx ${p.tx_hash ?? "(no hash reported)"}`);
    else if (p.status === "sent") {
      ctx.print("sent to the payment processor; it completes when the processor confirms");
    } else {ctx.print(
        "accepted; the payment processor did not answer yet, and it will be retried automatically",
      );}
    return;
  }
  throw new CliError("usage", USAGE);
}

async function connect(ctx: CommandContext, serverFlag: string | undefined) {
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await loadIdentity(home);
  return { identity, server: resolveServer(serverFlag, config, ctx.env) };
}
