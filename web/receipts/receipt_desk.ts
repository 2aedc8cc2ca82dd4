// The receipt desk: for every job attempt on a node it joins what this control plane saw (the
// facts, when the attempt ends here) with the node's own signed receipt (a socket frame), then
// countersigns the pair as the platform receipt and writes it. Off the consumer's path: the
// signing and the insert happen in small batches after the answer has gone out. A node receipt
// is accepted only for a job this node was sent, once, in its chain's order; anything else is
// refused with a code and changes nothing. A node that does not sign within `nodeWaitMs` of the
// job's end gets a receipt that says so (`signed: false`).
import {
  buyerDidOf,
  type CancelledBy,
  categoryOf,
  formatUsd,
  type JobKind,
  type Logger,
  nostrDid,
  receiptIdOf,
  type ReceiptOutcome,
  type ReceiptTokens,
  sleep,
  type UnsignedEvent,
  unsignedPlatformReceipt,
  type VerifiedNodeReceipt,
  verifyNodeReceipt,
} from "../../shared/mod.ts";
import { insertReceipts, receiptHeads, type ReceiptRow, type Sql } from "../../db/mod.ts";
import { usageDiverges } from "../metering/count_tokens.ts";
import type { PlatformKey } from "./platform_key.ts";
import { type EventSigner, inlineSigner } from "./event_signer.ts";

/** What this control plane knows of one attempt when it ends here. */
export interface AttemptFacts {
  jobId: string;
  nodePubkey: string;
  kind: JobKind;
  model: string;
  /** The paying account (an API key id), or null. */
  apiKeyId: bigint | null;
  outcome: ReceiptOutcome;
  cancelledBy: CancelledBy | null;
  errorCode: string | null;
  artifactHash: string | null;
  reported: ReceiptTokens | null;
  counted: ReceiptTokens | null;
  billed: ReceiptTokens;
  amountNano: bigint;
  ttftMs: number | null;
  durationMs: number;
}

/** Why a node receipt was refused (docs/protocol.md §11). */
export type NodeReceiptRefusal =
  | "receipt_invalid"
  | "receipt_foreign"
  | "receipt_replayed"
  | "receipt_out_of_order"
  | "receipt_late";

/** A chain's last place. */
export interface ChainHead {
  id: string;
  seq: number;
}

/** The desk's answer to a node receipt frame. */
export type NodeReceiptAnswer =
  | { ok: true; jobId: string; receiptId: string }
  | { ok: false; jobId: string | null; code: NodeReceiptRefusal; message: string; head: ChainHead | null };

/** A written receipt, as {@link ReceiptDesk.whenReceipted} resolves it. */
export interface WrittenReceipt {
  eventId: string;
  receiptId: string;
}

/** Options of the desk. */
export interface ReceiptDeskOptions {
  sql: Sql;
  key: PlatformKey;
  log: Logger;
  /** How long after the job's end the node's receipt is waited for. */
  nodeWaitMs?: number;
  /** How long signing waits to gather a batch (the answer goes out first). */
  lingerMs?: number;
  /**
   * How long signed receipts wait to share one insert (unless a full statement's worth is
   * waiting): PGlite spends ~1 ms on a statement besides ~80 µs a row.
   */
  writeLingerMs?: number;
  /** Attempts the node never answered are forgotten after this long. */
  staleMs?: number;
  retryMs?: number;
  /** Where the signatures are made (default: on this thread). */
  signer?: EventSigner;
}

interface Attempt {
  key: string;
  jobId: string;
  node: string;
  kind: JobKind;
  model: string;
  sentAt: number;
  facts: AttemptFacts | null;
  endedAt: number;
  nodeReceipt: VerifiedNodeReceipt | null;
  /** When the wait for the node's receipt ends (ms epoch); 0 while the attempt runs. */
  waitUntil: number;
  /** Its CPR receipt id, once derived (a hash). */
  receiptId: string | null;
}

interface Head extends ChainHead {
  createdAt: number;
}

/** Receipts built or announced per event-loop turn. */
const SLICE = 4;

/** Signed receipts waiting this many are inserted at once, without waiting for the write linger. */
const WRITE_BATCH = 100;

/** A cache of buyers' DIDs (a hash each) holds at most this many accounts. */
const BUYER_DIDS = 10_000;

/** Recently written or closed attempts kept to tell a replay from a foreign receipt. */
const DONE_MEMORY = 20_000;

const attemptKey = (jobId: string, node: string) => `${jobId}:${node}`;

/** Joins attempts with node receipts, countersigns them and writes them. */
export class ReceiptDesk {
  #sql: Sql;
  #key: PlatformKey;
  #log: Logger;
  #nodeWaitMs: number;
  #lingerMs: number;
  #writeLingerMs: number;
  #writeTimer: ReturnType<typeof setTimeout> | null = null;
  #buyerDids = new Map<bigint, string>();
  #staleMs: number;
  #retryMs: number;
  #signer: EventSigner;
  /** Each node's receipt being decided, so the next waits for it. */
  #checking = new Map<string, Promise<void>>();
  #open = new Map<string, Attempt>();
  /** Closed attempts (recent): the receipt written for each, or null while it is being written. */
  #done = new Map<string, { written: WrittenReceipt | null; signed: boolean }>();
  #nodeHeads = new Map<string, Head | null>();
  #platformHeads = new Map<string, Head | null>();
  #loading = new Map<string, Promise<void>>();
  /**
   * Ended attempts waiting for their node's receipt, in the order they ended: every wait is as
   * long, so one timer for the oldest serves them all instead of one timer per job. An attempt
   * leaves as soon as its receipt is in, so the desk holds no job's facts longer than it must.
   */
  #waiting = new Map<string, Attempt>();
  #waitTimer: ReturnType<typeof setTimeout> | null = null;
  #ready: Attempt[] = [];
  #signTimer: ReturnType<typeof setTimeout> | null = null;
  #unwritten: ReceiptRow[] = [];
  #writing: Promise<void> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #waiters = new Map<string, ((r: WrittenReceipt | null) => void)[]>();
  #listeners: ((row: ReceiptRow) => void)[] = [];
  #nodeReceiptListeners: ((node: string, receipt: VerifiedNodeReceipt) => void)[] = [];
  #sweeper: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(opts: ReceiptDeskOptions) {
    this.#sql = opts.sql;
    this.#key = opts.key;
    this.#log = opts.log;
    this.#nodeWaitMs = opts.nodeWaitMs ?? 5000;
    this.#lingerMs = opts.lingerMs ?? 20;
    this.#writeLingerMs = opts.writeLingerMs ?? 500;
    this.#staleMs = opts.staleMs ?? 15 * 60_000;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#signer = opts.signer ?? inlineSigner(opts.key.secretKey);
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
  }

  /** The platform's public key (hex). */
  get platformPubkey(): string {
    return this.#key.pubkey;
  }

  /** Calls `fn(row)` after each receipt is committed. */
  onReceipt(fn: (row: ReceiptRow) => void): void {
    this.#listeners.push(fn);
  }

  /** Calls `fn(node, receipt)` when a node receipt is accepted (direct mode settles on it). */
  onNodeReceipt(fn: (node: string, receipt: VerifiedNodeReceipt) => void): void {
    this.#nodeReceiptListeners.push(fn);
  }

  /** The last node receipt this desk holds for a node (sent in `welcome`); loads it once. */
  async head(node: string): Promise<ChainHead | null> {
    await this.#loadHeads(node);
    const h = this.#nodeHeads.get(node) ?? null;
    return h && { id: h.id, seq: h.seq };
  }

  /**
   * Reads the node's chain heads again and takes each stored one that is further along than this
   * desk's: among several instances another may have written the node's receipts while its
   * socket was there. What this desk accepted and has not written yet stays ahead.
   */
  async refreshHeads(node: string): Promise<void> {
    if (!this.#platformHeads.has(node)) return this.#loadHeads(node);
    const stored = await receiptHeads(this.#sql, node);
    const newer = (mine: Head | null | undefined, theirs: ChainHead | null) =>
      theirs && (!mine || theirs.seq > mine.seq) ? { ...theirs, createdAt: 0 } : null;
    const n = newer(this.#nodeHeads.get(node), stored.node);
    if (n) this.#nodeHeads.set(node, n);
    const p = newer(this.#platformHeads.get(node), stored.platform);
    if (p) this.#platformHeads.set(node, p);
  }

  #loadHeads(node: string): Promise<void> {
    if (this.#platformHeads.has(node)) return Promise.resolve();
    let loading = this.#loading.get(node);
    if (!loading) {
      loading = receiptHeads(this.#sql, node).then((heads) => {
        // Whatever this desk accepted meanwhile is newer than what was stored.
        if (!this.#nodeHeads.has(node)) {
          this.#nodeHeads.set(node, heads.node && { ...heads.node, createdAt: 0 });
        }
        if (!this.#platformHeads.has(node)) {
          this.#platformHeads.set(node, heads.platform && { ...heads.platform, createdAt: 0 });
        }
      }).finally(() => this.#loading.delete(node));
      this.#loading.set(node, loading);
    }
    return loading;
  }

  /** Notes that a job was sent to a node: from now on its receipt for the job is expected. */
  expect(jobId: string, node: string, job: { kind: JobKind; model: string }): void {
    if (this.#closed) return;
    const key = attemptKey(jobId, node);
    if (this.#open.has(key) || this.#done.has(key)) return;
    this.#open.set(key, {
      key,
      jobId,
      node,
      kind: job.kind,
      model: job.model,
      sentAt: Date.now(),
      facts: null,
      endedAt: 0,
      nodeReceipt: null,
      waitUntil: 0,
      receiptId: null,
    });
  }

  /** Notes that a job sent to a node will have no receipt (the node was busy: not its failure). */
  forget(jobId: string, node: string): void {
    const a = this.#open.get(attemptKey(jobId, node));
    if (!a) return;
    this.#open.delete(a.key);
    this.#waiting.delete(a.key);
  }

  /** The attempt ended here: countersign at once if the node's receipt is in, else wait for it. */
  attemptEnded(facts: AttemptFacts): void {
    if (this.#closed) return;
    this.expect(facts.jobId, facts.nodePubkey, facts);
    const a = this.#open.get(attemptKey(facts.jobId, facts.nodePubkey));
    if (!a || a.facts) return;
    a.facts = facts;
    a.endedAt = Math.floor(Date.now() / 1000);
    if (a.nodeReceipt) return this.#queue(a);
    a.waitUntil = Date.now() + this.#nodeWaitMs;
    this.#waiting.set(a.key, a);
    this.#armWait();
  }

  /** Arms the one timer for the oldest wait (it may have left meanwhile: then it re-arms). */
  #armWait(): void {
    if (this.#waitTimer) return;
    const oldest = this.#waiting.values().next();
    if (oldest.done) return;
    this.#waitTimer = setTimeout(() => {
      this.#waitTimer = null;
      const now = Date.now();
      for (const a of this.#waiting.values()) {
        if (a.waitUntil > now) break;
        // Its receipt never came: receipted without it.
        this.#queue(a);
      }
      this.#armWait();
    }, Math.max(0, oldest.value.waitUntil - Date.now()));
  }

  /** Checks a node's receipt frame from the node `node`; accepts it or says why not. */
  nodeReceipt(node: string, raw: unknown): Promise<NodeReceiptAnswer> {
    // Shape and content first (cheap); the signature in the crypto worker, off this thread. One
    // node's receipts are decided one after another, in the order they came.
    const checked = verifyNodeReceipt(raw, { verifyEvent: () => true });
    const before = this.#checking.get(node) ?? Promise.resolve();
    const verified = checked.ok ? this.#signer.verify([checked.value.event]) : Promise.resolve([false]);
    const decided = before.then(() => verified).then(
      ([ok]) => this.#decide(node, checked, ok),
      () => this.#decide(node, checked, false),
    );
    const settled = decided.then(() => {}, () => {});
    this.#checking.set(node, settled);
    void settled.then(() => {
      if (this.#checking.get(node) === settled) this.#checking.delete(node);
    });
    return decided;
  }

  #decide(
    node: string,
    checked: ReturnType<typeof verifyNodeReceipt>,
    signatureOk: boolean,
  ): NodeReceiptAnswer {
    const head = this.#nodeHeads.get(node) ?? null;
    const headOut = head && { id: head.id, seq: head.seq };
    const refuse = (
      code: NodeReceiptRefusal,
      message: string,
      jobId: string | null = null,
    ): NodeReceiptAnswer => ({
      ok: false,
      jobId,
      code,
      message,
      head: headOut,
    });
    if (!checked.ok) return refuse("receipt_invalid", checked.reason);
    if (!signatureOk) return refuse("receipt_invalid", "the id or signature is wrong");
    const r = checked.value;
    const jobId = r.content.task_id;
    if (r.event.pubkey !== node) {
      return refuse("receipt_foreign", "the receipt is signed by another node's key", jobId);
    }
    const key = attemptKey(jobId, node);
    const a = this.#open.get(key);
    if (!a) {
      const done = this.#done.get(key);
      if (!done) return refuse("receipt_foreign", `job ${jobId} was not sent to this node`, jobId);
      return done.signed
        ? refuse("receipt_replayed", `job ${jobId} already has its receipt`, jobId)
        : refuse("receipt_late", `job ${jobId} was receipted without it (sent too late)`, jobId);
    }
    if (a.nodeReceipt) return refuse("receipt_replayed", `job ${jobId} already has a node receipt`, jobId);
    if (!this.#nodeHeads.has(node)) {
      return refuse("receipt_out_of_order", "the chain head is not loaded yet: reconnect and resend", jobId);
    }
    const { seq, prev, created_at: createdAt } = r.content;
    if (seq !== (head?.seq ?? 0) + 1 || prev !== (head?.id ?? null)) {
      return refuse(
        "receipt_out_of_order",
        `expected seq ${(head?.seq ?? 0) + 1} after ${head?.id ?? "nothing"}, got seq ${seq} after ${
          prev ?? "nothing"
        }`,
        jobId,
      );
    }
    if (head && createdAt < head.createdAt) {
      return refuse("receipt_out_of_order", "the receipt is dated before the previous one", jobId);
    }
    if (r.content.category !== categoryOf(a.kind) || r.content.model !== a.model) {
      return refuse("receipt_invalid", "the receipt's category or model is not the job's", jobId);
    }
    this.#nodeHeads.set(node, { id: r.event.id, seq, createdAt });
    a.nodeReceipt = r;
    if (a.facts) this.#queue(a);
    for (const fn of this.#nodeReceiptListeners) fn(node, r);
    return { ok: true, jobId, receiptId: this.#receiptId(a) };
  }

  #receiptId(a: Attempt): string {
    return a.receiptId ??= receiptIdOf(a.jobId, a.node);
  }

  #buyerDid(apiKeyId: bigint): string {
    let did = this.#buyerDids.get(apiKeyId);
    if (did === undefined) {
      if (this.#buyerDids.size >= BUYER_DIDS) this.#buyerDids.clear();
      did = buyerDidOf(this.#key.pubkey, `key:${apiKeyId}`);
      this.#buyerDids.set(apiKeyId, did);
    }
    return did;
  }

  /** Resolves once the platform receipt of a job on a node is written; null if it never will be. */
  whenReceipted(jobId: string, node: string): Promise<WrittenReceipt | null> {
    const key = attemptKey(jobId, node);
    const done = this.#done.get(key);
    if (done?.written) return Promise.resolve(done.written);
    if (!done && !this.#open.has(key)) return Promise.resolve(null);
    return new Promise((resolve) => {
      const list = this.#waiters.get(key) ?? [];
      list.push(resolve);
      this.#waiters.set(key, list);
      // Signed already and lingering for its insert: write it now.
      if (this.#unwritten.some((r) => r.jobId === jobId && r.nodePubkey === node)) this.#write();
    });
  }

  #queue(a: Attempt): void {
    this.#open.delete(a.key);
    this.#waiting.delete(a.key);
    this.#remember(a.key, { written: null, signed: a.nodeReceipt !== null });
    this.#ready.push(a);
    this.#signTimer ??= setTimeout(() => {
      this.#signTimer = null;
      void this.#signReady();
    }, this.#lingerMs);
  }

  #remember(key: string, value: { written: WrittenReceipt | null; signed: boolean }): void {
    this.#done.delete(key);
    this.#done.set(key, value);
    if (this.#done.size > DONE_MEMORY) this.#done.delete(this.#done.keys().next().value!);
  }

  async #signReady(): Promise<void> {
    const batch = this.#ready.splice(0);
    const nodes = new Set(batch.map((a) => a.node));
    await Promise.all([...nodes].map((n) =>
      this.#loadHeads(n).catch((err) => {
        this.#log.error("receipt chain head not loaded", { node: n, err });
      })
    ));
    // Built and signed a few at a time, so requests arriving meanwhile never wait behind a whole
    // batch (inline native signatures are ~50 µs each; a worker's come back as a message).
    const signed: ReceiptRow[] = [];
    for (let i = 0; i < batch.length; i += SLICE) {
      const rows: { row: Omit<ReceiptRow, "event">; event: UnsignedEvent }[] = [];
      for (const a of batch.slice(i, i + SLICE)) {
        if (this.#platformHeads.has(a.node)) rows.push(this.#countersign(a));
        else this.#settle(a.key, null);
      }
      let sigs: string[];
      try {
        sigs = await this.#signer.sign(rows.map((r) => r.event));
      } catch (err) {
        // As before slicing: the rest of the batch goes unreceipted; what was signed is written.
        this.#log.error("receipts not signed", { err, receipts: batch.length - i });
        for (const { row } of rows) this.#settle(attemptKey(row.jobId, row.nodePubkey), null);
        for (const a of batch.slice(i + SLICE)) this.#settle(a.key, null);
        break;
      }
      for (const [j, { row, event }] of rows.entries()) {
        signed.push({ ...row, event: JSON.stringify({ ...event, sig: sigs[j] }) });
      }
      if (i + SLICE < batch.length) await sleep(0);
    }
    this.#unwritten.push(...signed);
    // Someone waits for one of these (a canary's verdict): no linger.
    if (this.#waiters.size > 0 && signed.some((r) => this.#waiters.has(attemptKey(r.jobId, r.nodePubkey)))) {
      this.#write();
    } else this.#scheduleWrite();
  }

  /** Builds the platform receipt (its id, chained after the node's last one); signed later. */
  #countersign(a: Attempt): { row: Omit<ReceiptRow, "event">; event: UnsignedEvent } {
    const f = a.facts!;
    const head = this.#platformHeads.get(a.node) ?? null;
    const nr = a.nodeReceipt;
    const reported = nr?.content.usage ?? f.reported;
    const success = f.outcome === "success";
    const meteringDisagrees = success && reported !== null && f.counted !== null &&
      (usageDiverges(reported.prompt_tokens, f.counted.prompt_tokens) ||
        usageDiverges(reported.completion_tokens, f.counted.completion_tokens));
    const artifactMismatch = success && nr !== null && nr.content.artifact_hash !== f.artifactHash;
    const createdAt = Math.max(a.endedAt, head?.createdAt ?? 0);
    const receiptId = this.#receiptId(a);
    const event = unsignedPlatformReceipt(this.#key.pubkey, {
      receipt_id: receiptId,
      task_id: a.jobId,
      agent_did: nostrDid(a.node),
      buyer_did: f.apiKeyId === null ? nostrDid(this.#key.pubkey) : this.#buyerDid(f.apiKeyId),
      category: categoryOf(f.kind),
      model: f.model,
      amount: formatUsd(f.amountNano),
      currency: "USD",
      outcome: f.outcome,
      cancelled_by: f.cancelledBy,
      error_code: f.errorCode,
      artifact_hash: f.artifactHash,
      usage: { reported, counted: f.counted, billed: f.billed },
      ttft_ms: f.ttftMs,
      duration_ms: f.durationMs,
      signed: nr !== null,
      node_receipt: nr?.event.id ?? null,
      seq: (head?.seq ?? 0) + 1,
      prev: head?.id ?? null,
      created_at: createdAt,
    });
    this.#platformHeads.set(a.node, { id: event.id, seq: (head?.seq ?? 0) + 1, createdAt });
    const row = {
      receiptId,
      jobId: a.jobId,
      nodePubkey: a.node,
      seq: (head?.seq ?? 0) + 1,
      eventId: event.id,
      createdAt,
      outcome: f.outcome,
      cancelledBy: f.cancelledBy,
      signed: nr !== null,
      meteringDisagrees,
      artifactMismatch,
      ttftMs: f.ttftMs,
      durationMs: f.durationMs,
      completionTokens: f.billed.completion_tokens,
      nodeSeq: nr?.content.seq ?? null,
      nodeEventId: nr?.event.id ?? null,
      nodeEvent: nr ? JSON.stringify(nr.event) : null,
    };
    return { row, event };
  }

  /** Writes now when a full statement is waiting, else once the oldest has waited the write linger. */
  #scheduleWrite(): void {
    if (this.#unwritten.length >= WRITE_BATCH) return this.#write();
    if (this.#unwritten.length === 0 || this.#writeTimer) return;
    this.#writeTimer = setTimeout(() => {
      this.#writeTimer = null;
      this.#write();
    }, this.#writeLingerMs);
  }

  #write(): void {
    if (this.#writing || this.#retryTimer || this.#unwritten.length === 0) return;
    if (this.#writeTimer) clearTimeout(this.#writeTimer);
    this.#writeTimer = null;
    const batch = this.#unwritten.splice(0, 500);
    this.#writing = insertReceipts(this.#sql, batch).then(
      async () => {
        for (const row of batch) this.#settle(attemptKey(row.jobId, row.nodePubkey), row);
        for (const [i, row] of batch.entries()) {
          if (i % SLICE === SLICE - 1) await sleep(0);
          for (const fn of this.#listeners) {
            try {
              fn(row);
            } catch (err) {
              this.#log.error("receipt listener failed", { err });
            }
          }
        }
      },
      (err) => {
        this.#unwritten.unshift(...batch);
        if (this.#closed) {
          this.#log.error("receipts not written at shutdown", { err, receipts: this.#unwritten.length });
          for (const row of this.#unwritten.splice(0)) {
            this.#settle(attemptKey(row.jobId, row.nodePubkey), null);
          }
          return;
        }
        this.#log.error("receipts not written; will retry", { err, receipts: batch.length });
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          this.#write();
        }, this.#retryMs);
      },
    ).finally(() => {
      this.#writing = null;
      this.#scheduleWrite();
    });
  }

  #settle(key: string, row: ReceiptRow | null): void {
    const written = row && { eventId: row.eventId, receiptId: row.receiptId };
    this.#remember(key, { written, signed: row?.signed ?? this.#done.get(key)?.signed ?? false });
    const waiters = this.#waiters.get(key);
    if (!waiters) return;
    this.#waiters.delete(key);
    for (const w of waiters) w(written);
  }

  #sweep(): void {
    const cutoff = Date.now() - this.#staleMs;
    for (const a of this.#open.values()) {
      if (a.sentAt < cutoff && !a.facts) {
        this.#open.delete(a.key);
        this.#settle(a.key, null);
      }
    }
  }

  /** Signs and writes everything waiting (node receipts still missing count as unsigned). */
  async flush(): Promise<void> {
    for (const a of [...this.#waiting.values()]) this.#queue(a);
    if (this.#waitTimer) clearTimeout(this.#waitTimer);
    this.#waitTimer = null;
    if (this.#signTimer) {
      clearTimeout(this.#signTimer);
      this.#signTimer = null;
      await this.#signReady();
    }
    for (let i = 0; i < 1000 && (this.#writing || this.#unwritten.length > 0); i++) {
      if (this.#retryTimer) break;
      if (this.#writing) await this.#writing;
      else this.#write();
    }
  }

  /** Flushes, then stops. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#signer.close();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#waitTimer) clearTimeout(this.#waitTimer);
    if (this.#writeTimer) clearTimeout(this.#writeTimer);
    for (const key of [...this.#waiters.keys()]) this.#settle(key, null);
  }
}
