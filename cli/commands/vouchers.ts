// `infernet vouchers take|list`: the consumer's spending vouchers (docs/protocol.md, "Vouchers").
// `take` makes a consumer key, asks the control plane for a batch signed for it, checks each
// voucher offline and keeps key and vouchers in one file of mode 0600 (default
// $INFERNET_HOME/vouchers.json), which `infernet proxy` reads to pay nodes while the control plane
// is away. A second `take` into the same file reuses its key and adds the new vouchers.
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { formatUsd, isRecord, type NostrEvent, nowSeconds, verifyVoucher } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { resolveHome } from "../config.ts";
import type { CommandContext } from "./context.ts";
import { parseFlags, positiveInt } from "./flags.ts";
import { formatTable } from "./table.ts";

/** The voucher file: the consumer key the vouchers are for, and the vouchers (kind 7482). */
export interface VoucherWallet {
  server: string;
  platform_pubkey: string;
  /** Hex secret of the consumer key: it signs the job requests that carry the vouchers. */
  consumer_secret: string;
  consumer_pubkey: string;
  vouchers: NostrEvent[];
  /** Voucher ids already used in a job (the proxy adds them); never offered again. */
  spent: string[];
}

/** Where `take` and `list` keep the vouchers unless told otherwise. */
export function defaultWalletPath(env: Record<string, string | undefined>): string {
  return `${resolveHome(env)}/vouchers.json`;
}

/** Reads a voucher file, or null when there is none; a file that is not one is an error. */
export async function readVoucherWallet(path: string): Promise<VoucherWallet | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  let w: unknown;
  try {
    w = JSON.parse(text);
  } catch {
    throw new CliError("config", `${path} is not a voucher file (not JSON)`);
  }
  const hex = (v: unknown) => typeof v === "string" && /^[0-9a-f]{64}$/.test(v);
  if (
    !isRecord(w) || typeof w.server !== "string" || !hex(w.platform_pubkey) || !hex(w.consumer_secret) ||
    !Array.isArray(w.vouchers) || !Array.isArray(w.spent ?? [])
  ) {
    throw new CliError("config", `${path} is not a voucher file`);
  }
  const consumer = getPublicKey(hexToBytes(w.consumer_secret as string));
  return {
    ...(w as unknown as VoucherWallet),
    consumer_pubkey: consumer,
    spent: (w.spent as string[]) ?? [],
  };
}

/** Writes a voucher file whole (a temporary file renamed over it), mode 0600. */
export async function writeVoucherWallet(path: string, wallet: VoucherWallet): Promise<void> {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(wallet, null, 1) + "\n", { mode: 0o600, createNew: true });
  await Deno.chmod(tmp, 0o600);
  await Deno.rename(tmp, path);
}

/** The vouchers of a file with their fields, as `list` shows them. */
export function describeVouchers(wallet: VoucherWallet, nowS: number) {
  return wallet.vouchers.map((event) => {
    const check = verifyVoucher(event, { platformPubkey: wallet.platform_pubkey, nowS });
    const c = JSON.parse(event.content) as { voucher_id: string; max_nano: string; expires_at: number };
    const status = wallet.spent.includes(c.voucher_id)
      ? "spent"
      : check.ok
      ? "usable"
      : check.code === "voucher_expired"
      ? "expired"
      : "invalid";
    return { id: c.voucher_id, max_usd: formatUsd(BigInt(c.max_nano)), expires_at: c.expires_at, status };
  });
}

async function take(ctx: CommandContext, args: string[]): Promise<void> {
  const f = parseFlags("vouchers take", args, {
    server: { type: "string" },
    key: { type: "string" },
    count: { type: "string" },
    "max-usd": { type: "string" },
    "ttl-s": { type: "string" },
    out: { type: "string" },
    json: { type: "boolean" },
  });
  const usage =
    "usage: infernet vouchers take --server URL --key inf_... --count N --max-usd X [--ttl-s S] [--out FILE]";
  if (!f.server || !f.key || !f.count || !f["max-usd"]) throw new CliError("usage", usage);
  const server = f.server.replace(/\/+$/, "");
  const count = positiveInt("count", f.count)!;
  const ttl = positiveInt("ttl-s", f["ttl-s"]);
  const path = f.out ?? defaultWalletPath(ctx.env);
  const existing = await readVoucherWallet(path);
  if (existing && existing.server !== server) {
    throw new CliError(
      "config",
      `${path} holds vouchers of ${existing.server}; use another --out for ${server}`,
    );
  }
  const secret = existing ? hexToBytes(existing.consumer_secret) : generateSecretKey();
  const consumer = getPublicKey(secret);
  const body = JSON.stringify({
    count,
    max_usd: f["max-usd"],
    consumer_pubkey: consumer,
    ...(ttl ? { ttl_s: ttl } : {}),
  });
  // One Idempotency-Key for both tries: a retry after a lost answer holds nothing twice.
  const idempotencyKey = crypto.randomUUID();
  let res: Response | null = null;
  for (let attempt = 0; attempt < 2 && !res; attempt++) {
    try {
      res = await fetch(`${server}/v1/vouchers`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${f.key}`,
          "content-type": "application/json",
          "idempotency-key": idempotencyKey,
        },
        body,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      if (attempt === 1) {
        throw new CliError("server_unreachable", `cannot reach ${server}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  const answer = await res!.json().catch(() => null);
  if (!res!.ok) {
    const message = answer?.error?.message ?? `HTTP ${res!.status}`;
    throw new CliError("server_refused", `the control plane refused the vouchers: ${message}`);
  }
  const platform = answer?.platform_pubkey;
  if (typeof platform !== "string" || !Array.isArray(answer?.vouchers)) {
    throw new CliError("server_refused", "the control plane sent no vouchers this CLI can read");
  }
  if (existing && existing.platform_pubkey !== platform) {
    throw new CliError("config", `the control plane's key changed since ${path} was written`);
  }
  const nowS = nowSeconds();
  for (const v of answer.vouchers) {
    const check = verifyVoucher(v, { platformPubkey: platform, nowS });
    if (!check.ok || check.voucher.content.consumer !== consumer) {
      throw new CliError("server_refused", `the control plane sent a voucher that does not check out`);
    }
  }
  const known = new Set((existing?.vouchers ?? []).map((v) => v.id));
  const wallet: VoucherWallet = {
    server,
    platform_pubkey: platform,
    consumer_secret: bytesToHex(secret),
    consumer_pubkey: consumer,
    vouchers: [...(existing?.vouchers ?? []), ...answer.vouchers.filter((v: NostrEvent) => !known.has(v.id))],
    spent: existing?.spent ?? [],
  };
  await writeVoucherWallet(path, wallet);
  if (f.json) {
    ctx.print(JSON.stringify({ file: path, consumer_pubkey: consumer, taken: answer.vouchers.length }));
    return;
  }
  ctx.print(
    `took ${answer.vouchers.length} vouchers of up to $${answer.max_usd} (held: $${answer.total_usd}); ` +
      `saved to ${path} for consumer ${consumer}`,
  );
}

async function list(ctx: CommandContext, args: string[]): Promise<void> {
  const f = parseFlags("vouchers list", args, { file: { type: "string" }, json: { type: "boolean" } });
  const path = f.file ?? defaultWalletPath(ctx.env);
  const wallet = await readVoucherWallet(path);
  if (!wallet) throw new CliError("config", `no vouchers at ${path}; take some with: infernet vouchers take`);
  const rows = describeVouchers(wallet, nowSeconds());
  if (f.json) {
    ctx.print(JSON.stringify({ file: path, consumer_pubkey: wallet.consumer_pubkey, vouchers: rows }));
    return;
  }
  const table = [["VOUCHER", "MAX USD", "EXPIRES (UTC)", "STATUS"]];
  for (const r of rows) {
    table.push([
      r.id,
      `$${r.max_usd}`,
      new Date(r.expires_at * 1000).toISOString().slice(0, 16).replace("T", " "),
      r.status,
    ]);
  }
  for (const line of formatTable(table)) ctx.print(line);
  const usable = rows.filter((r) => r.status === "usable").length;
  ctx.print(
    `${usable} usable of ${rows.length}; consumer ${wallet.consumer_pubkey}; server ${wallet.server}`,
  );
}

/** Runs `infernet vouchers take|list`. */
export async function runVouchers(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  if (sub === "take") return await take(ctx, rest);
  if (sub === "list") return await list(ctx, rest);
  throw new CliError(
    "usage",
    "usage: infernet vouchers take --server URL --key inf_... --count N --max-usd X | list",
  );
}
