// The node's side of vouchers (docs/protocol.md, "Vouchers"): each voucher a job was paid with is
// kept in the node's home with the node's receipt for the job and the prices charged
// (`vouchers/pending/<voucher id>.json`, mode 0600) until the control plane takes it, so a job
// served while the control plane was away is paid once it answers again. A redemption the server
// answers is final (moved to `redeemed/` or `refused/` with the reason); anything else (no answer,
// 5xx, a NIP-98 clock or replay refusal, a node not yet registered again) is tried again later.
import type { Logger, NostrEvent } from "../../shared/mod.ts";
import { sleep } from "../../shared/mod.ts";
import { signedRequest } from "./signed_request.ts";

/** What the node sends to redeem one voucher. */
export interface VoucherClaim {
  voucher: NostrEvent;
  receipt: NostrEvent;
  /** The prices charged for the job, nano-USD per 1,000 tokens (the node's, at most). */
  price: { prompt_per_1k: number; completion_per_1k: number };
}

/** The refusals after which trying again cannot help: the claim is filed as refused. */
const FINAL_REFUSALS = new Set([
  "voucher_forged",
  "voucher_expired",
  "receipt_invalid",
  "price_invalid",
  "invalid_request",
  "invalid_json",
]);

/** One pass's outcome, by voucher id. */
export interface RedeemPass {
  redeemed: string[];
  refused: { id: string; code: string }[];
  waiting: string[];
}

/** Options of {@link VoucherRedeemer}. */
export interface VoucherRedeemerOptions {
  /** The node's home ($INFERNET_HOME); claims live under `<home>/vouchers/`. */
  home: string;
  secretKey: Uint8Array;
  /** The control plane's URL. */
  server: string;
  log?: Logger;
}

const ID = /^vch_[0-9a-f]{32}$/;

/** Keeps the node's voucher claims and redeems them when the control plane answers. */
export class VoucherRedeemer {
  #o: VoucherRedeemerOptions;

  constructor(opts: VoucherRedeemerOptions) {
    this.#o = opts;
  }

  #dir(state: "pending" | "redeemed" | "refused"): string {
    return `${this.#o.home}/vouchers/${state}`;
  }

  /**
   * Keeps a claim until it is redeemed. The voucher id names the file, so keeping one voucher
   * twice keeps the first claim (a voucher pays one job). Returns the voucher id.
   */
  async keep(claim: VoucherClaim): Promise<string> {
    let id: unknown;
    try {
      id = JSON.parse(claim.voucher.content).voucher_id;
    } catch {
      id = null;
    }
    if (typeof id !== "string" || !ID.test(id)) {
      throw new TypeError("not a voucher: no voucher_id in its content");
    }
    const dir = this.#dir("pending");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      await Deno.writeTextFile(`${dir}/${id}.json`, JSON.stringify(claim) + "\n", {
        mode: 0o600,
        createNew: true,
      });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    return id;
  }

  /** The voucher ids waiting to be redeemed. */
  async pending(): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const e of Deno.readDir(this.#dir("pending"))) {
        if (e.isFile && e.name.endsWith(".json") && ID.test(e.name.slice(0, -5))) {
          ids.push(e.name.slice(0, -5));
        }
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return ids.sort();
  }

  async #file(id: string, state: "redeemed" | "refused", outcome: unknown): Promise<void> {
    const dir = this.#dir(state);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const claim = JSON.parse(await Deno.readTextFile(`${this.#dir("pending")}/${id}.json`));
    await Deno.writeTextFile(`${dir}/${id}.json`, JSON.stringify({ ...claim, outcome }) + "\n", {
      mode: 0o600,
    });
    await Deno.remove(`${this.#dir("pending")}/${id}.json`);
  }

  /** Tries every waiting claim once. */
  async redeemPending(): Promise<RedeemPass> {
    const pass: RedeemPass = { redeemed: [], refused: [], waiting: [] };
    for (const id of await this.pending()) {
      let claim: unknown;
      try {
        claim = JSON.parse(await Deno.readTextFile(`${this.#dir("pending")}/${id}.json`));
      } catch {
        await this.#file(id, "refused", { code: "unreadable" }).catch(() => {});
        pass.refused.push({ id, code: "unreadable" });
        continue;
      }
      let res: Response;
      try {
        res = await signedRequest(this.#o.server, "POST", "/api/vouchers/redeem", this.#o.secretKey, claim);
      } catch (err) {
        this.#o.log?.debug("voucher redemption: no answer", { voucher: id, err: (err as Error).message });
        pass.waiting.push(id);
        continue;
      }
      const body = await res.json().catch(() => null);
      const code: string | undefined = body?.error?.code;
      if (res.ok) {
        await this.#file(id, "redeemed", body);
        pass.redeemed.push(id);
        this.#o.log?.info("voucher redeemed", { voucher: id, charged_nano: body?.charged_nano });
      } else if (code === "voucher_redeemed") {
        // Redeemed already (a lost answer to our own earlier try, most likely): done.
        await this.#file(id, "redeemed", { already: true });
        pass.redeemed.push(id);
      } else if (code && FINAL_REFUSALS.has(code)) {
        await this.#file(id, "refused", { status: res.status, code, message: body?.error?.message });
        pass.refused.push({ id, code });
        this.#o.log?.warn("voucher refused", { voucher: id, code, message: body?.error?.message });
      } else {
        pass.waiting.push(id);
      }
    }
    return pass;
  }

  /**
   * Passes until nothing waits, at most `maxPasses`, waiting between them from `firstDelayMs`
   * doubling up to `maxDelayMs`; stops early when `signal` aborts. Returns the totals.
   */
  async run(
    opts: { maxPasses?: number; firstDelayMs?: number; maxDelayMs?: number; signal?: AbortSignal } = {},
  ): Promise<RedeemPass> {
    const total: RedeemPass = { redeemed: [], refused: [], waiting: [] };
    let delay = opts.firstDelayMs ?? 1_000;
    for (let i = 0; i < (opts.maxPasses ?? 1_000) && !opts.signal?.aborted; i++) {
      const pass = await this.redeemPending();
      total.redeemed.push(...pass.redeemed);
      total.refused.push(...pass.refused);
      total.waiting = pass.waiting;
      if (pass.waiting.length === 0) break;
      try {
        await sleep(delay, { signal: opts.signal });
      } catch {
        break;
      }
      delay = Math.min(delay * 2, opts.maxDelayMs ?? 60_000);
    }
    return total;
  }
}
