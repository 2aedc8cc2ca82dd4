// The vouchers a node took for relay jobs (docs/protocol.md §17), kept for redemption: one JSON
// line per job in `<home>/vouchers/pending.jsonl` (the voucher event, the node's signed receipt,
// the request and usage). Appended once per job, never rewritten here; the ids already in it are
// spent, so a voucher replayed after a restart is still refused.
import type { NostrEvent } from "../../shared/mod.ts";
import { isRecord } from "../../shared/mod.ts";

/** One job's voucher and receipt, as a line of pending.jsonl. */
export interface PendingVoucher {
  voucher: NostrEvent;
  receipt: NostrEvent;
  request_id: string;
  job_id: string;
  consumer: string;
  model: string;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  created_at: number;
}

/** The pending file and the voucher ids spent on this node. */
export class PendingVouchers {
  readonly path: string;
  #spent = new Set<string>();

  constructor(home: string) {
    this.path = `${home}/vouchers/pending.jsonl`;
  }

  /** Reads the ids already spent (a missing file is none; a torn last line is skipped). */
  async load(): Promise<void> {
    let text = "";
    try {
      text = await Deno.readTextFile(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    for (const line of this.#lines(text)) {
      try {
        const id = JSON.parse(JSON.parse(line).voucher.content).voucher_id;
        if (typeof id === "string") this.#spent.add(id);
      } catch { /* a torn line from a crash: that job's voucher was not recorded */ }
    }
  }

  *#lines(text: string): Generator<string> {
    for (const line of text.split("\n")) if (line.trim()) yield line;
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

  /** Appends a job's line (the directory is made 0700 on first use). */
  async append(entry: PendingVoucher): Promise<void> {
    await Deno.mkdir(this.path.slice(0, this.path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(this.path, JSON.stringify(entry) + "\n", { append: true, mode: 0o600 });
  }

  /** Every line of the file, parsed (for tests and the redeemer). */
  async read(): Promise<PendingVoucher[]> {
    let text = "";
    try {
      text = await Deno.readTextFile(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const out: PendingVoucher[] = [];
    for (const line of this.#lines(text)) {
      try {
        const v = JSON.parse(line);
        if (isRecord(v)) out.push(v as unknown as PendingVoucher);
      } catch { /* torn line */ }
    }
    return out;
  }
}
