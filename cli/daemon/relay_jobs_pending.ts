// The vouchers a node took for relay jobs (docs/protocol.md §18), in the redeemer's own layout
// (cli/daemon/voucher_redeemer.ts): one claim per voucher, `<home>/vouchers/pending/<id>.json`,
// with the node's receipt and the prices charged, moved to `redeemed/` or `refused/` once the
// control plane answers. Every id in any of the three is spent, so a voucher replayed after a
// restart is still refused.
import { type VoucherClaim, VoucherRedeemer } from "./voucher_redeemer.ts";

const STATES = ["pending", "redeemed", "refused"] as const;
const FILE = /^(vch_[0-9a-f]{32})\.json$/;

/** The voucher ids spent on this node, and the claims waiting for redemption. */
export class PendingVouchers {
  readonly #home: string;
  readonly #redeemer: VoucherRedeemer;
  #spent = new Set<string>();

  constructor(home: string, secretKey: Uint8Array) {
    this.#home = home;
    // Only `keep` is used here: the daemon's redeemer (with the server) sends them.
    this.#redeemer = new VoucherRedeemer({ home, secretKey, server: "" });
  }

  /** Reads the ids already spent (missing folders are none). */
  async load(): Promise<void> {
    for (const state of STATES) {
      try {
        for await (const e of Deno.readDir(`${this.#home}/vouchers/${state}`)) {
          const id = e.isFile ? FILE.exec(e.name)?.[1] : undefined;
          if (id) this.#spent.add(id);
        }
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }

  /** Takes a voucher id; false when it is already spent. */
  claim(voucherId: string): boolean {
    if (this.#spent.has(voucherId)) return false;
    this.#spent.add(voucherId);
    return true;
  }

  /** Gives back an id claimed for a job that never ran. */
  release(voucherId: string): void {
    this.#spent.delete(voucherId);
  }

  /** Keeps a job's claim until it is redeemed (mode 0600; a voucher's first claim stands). */
  async keep(claim: VoucherClaim): Promise<void> {
    await this.#redeemer.keep(claim);
  }

  /** The claims waiting for redemption (for tests and `infernet status`). */
  async read(): Promise<VoucherClaim[]> {
    const out: VoucherClaim[] = [];
    for (const id of await this.#redeemer.pending()) {
      out.push(JSON.parse(await Deno.readTextFile(`${this.#home}/vouchers/pending/${id}.json`)));
    }
    return out;
  }
}
