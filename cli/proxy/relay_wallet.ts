// The proxy's vouchers (docs/protocol.md §18): the file `infernet vouchers take` wrote, read once,
// handing out each usable voucher once with the consumer key it names, and writing its id to the
// file's `spent` list before the request that carries it goes out, so a restart never reuses one.
import { hexToBytes } from "@noble/hashes/utils.js";
import { verifyVoucher } from "../../shared/mod.ts";
import type { RelayVoucher } from "../../shared/relay/relay_client.ts";
import { readVoucherWallet, type VoucherWallet, writeVoucherWallet } from "../commands/vouchers.ts";
import { CliError } from "../cli_error.ts";

/** A voucher file in use by the proxy. */
export class RelayWallet {
  readonly path: string;
  #wallet: VoucherWallet;
  #writing: Promise<void> = Promise.resolve();
  #nowS: () => number;

  private constructor(path: string, wallet: VoucherWallet, nowS: () => number) {
    this.path = path;
    this.#wallet = wallet;
    this.#nowS = nowS;
  }

  /** Opens a voucher file; a missing one is a CliError telling how to take vouchers. */
  static async open(path: string, opts: { nowS?: () => number } = {}): Promise<RelayWallet> {
    const wallet = await readVoucherWallet(path);
    if (!wallet) {
      throw new CliError("config", `no voucher file at ${path}: run infernet vouchers take first`);
    }
    return new RelayWallet(path, wallet, opts.nowS ?? (() => Math.floor(Date.now() / 1000)));
  }

  /** The key of the control plane that signed the vouchers (hex): whose receipts rank nodes. */
  get platformPubkey(): string {
    return this.#wallet.platform_pubkey;
  }

  /** How many vouchers are still usable. */
  get usable(): number {
    return this.#usable().length;
  }

  #usable() {
    const spent = new Set(this.#wallet.spent);
    return this.#wallet.vouchers.filter((event) => {
      const check = verifyVoucher(event, {
        platformPubkey: this.#wallet.platform_pubkey,
        nowS: this.#nowS(),
      });
      return check.ok && !spent.has(check.voucher.content.voucher_id) &&
        check.voucher.content.consumer === this.#wallet.consumer_pubkey;
    });
  }

  /** The next usable voucher, recorded as spent in the file first; null when none is left. */
  async take(): Promise<RelayVoucher | null> {
    const event = this.#usable()[0];
    if (!event) return null;
    const id = JSON.parse(event.content).voucher_id as string;
    this.#wallet = { ...this.#wallet, spent: [...this.#wallet.spent, id] };
    const wallet = this.#wallet;
    const write = this.#writing.then(() => writeVoucherWallet(this.path, wallet));
    this.#writing = write.catch(() => {});
    await write;
    return { event, secretKey: hexToBytes(this.#wallet.consumer_secret) };
  }
}
