// The receipt desk of an instance among several. A node's receipts form one chain, and they
// arrive on the node's socket: so the instance that holds the socket writes the platform receipt
// of every job on that node, wherever the request came in. The instance that took the request
// sends it what it knows of the attempt (expect, forget, the facts at its end); the node's receipt
// frame then meets them there, as on a single instance. The facts at the end wait a few
// milliseconds: the consumer's answer goes out first, and the facts of the jobs that end meanwhile
// leave in one write (the holder waits for them anyway, up to its node wait).
import { type JobKind, receiptIdOf, sleep } from "../../shared/mod.ts";
import { receiptsForJob, type Sql } from "../../db/mod.ts";
import {
  type AttemptFacts,
  type ChainHead,
  ReceiptDesk,
  type ReceiptDeskOptions,
  type WrittenReceipt,
} from "../receipts/receipt_desk.ts";
import type { InboxFrame } from "./cluster_frames.ts";

/** Where a node's receipts are written, when not here. */
export interface ReceiptRoute {
  /** The instance holding the node's socket, or null when it is this one (or nobody). */
  holderOf(node: string): string | null;
  send(instance: string, frame: InboxFrame): boolean;
}

/** How long the facts of an ended attempt wait before they go to the node's instance. */
const ENDED_LINGER_MS = 5;

/** A ReceiptDesk that hands attempts on other instances' nodes to those instances. */
export class ClusterReceiptDesk extends ReceiptDesk {
  #route: ReceiptRoute | null = null;
  /** Facts of ended attempts not yet sent, with the instance each goes to. */
  #ended: { at: string; facts: AttemptFacts }[] = [];
  #endedTimer: ReturnType<typeof setTimeout> | null = null;
  #sql: Sql;
  /** How long a receipt written elsewhere is looked for: the node's wait, and a margin for the batch. */
  #lookMs: number;
  #stopped = false;

  constructor(opts: ReceiptDeskOptions) {
    super(opts);
    this.#sql = opts.sql;
    this.#lookMs = (opts.nodeWaitMs ?? 5000) + 30_000;
  }

  /** Starts forwarding (the cluster is opened after the desk); facts still waiting leave first. */
  routeThrough(route: ReceiptRoute | null): void {
    this.#sendEnded();
    this.#route = route;
  }

  #remote(node: string): string | null {
    return this.#route?.holderOf(node) ?? null;
  }

  /** A node (re)connecting here may have left receipts on another instance meanwhile: they are read first. */
  override async head(node: string): Promise<ChainHead | null> {
    await this.refreshHeads(node);
    return super.head(node);
  }

  override expect(jobId: string, node: string, job: { kind: JobKind; model: string }): void {
    const at = this.#remote(node);
    if (at === null) return super.expect(jobId, node, job);
    this.#route!.send(at, { t: "expect", job: jobId, node, kind: job.kind, model: job.model });
  }

  override forget(jobId: string, node: string): void {
    const at = this.#remote(node);
    if (at === null) return super.forget(jobId, node);
    this.#route!.send(at, { t: "forget", job: jobId, node });
  }

  override attemptEnded(facts: AttemptFacts): void {
    const at = this.#remote(facts.nodePubkey);
    if (at === null) return super.attemptEnded(facts);
    this.#ended.push({ at, facts });
    this.#endedTimer ??= setTimeout(() => this.#sendEnded(), ENDED_LINGER_MS);
  }

  #sendEnded(): void {
    if (this.#endedTimer) clearTimeout(this.#endedTimer);
    this.#endedTimer = null;
    const ended = this.#ended;
    this.#ended = [];
    for (const { at, facts } of ended) this.#route?.send(at, { t: "ended", facts });
  }

  /** A receipt the node's own instance writes is looked for in the shared database (a canary's verdict cites it). */
  override whenReceipted(jobId: string, node: string): Promise<WrittenReceipt | null> {
    if (this.#remote(node) === null) return super.whenReceipted(jobId, node);
    return this.#lookUp(jobId, node);
  }

  async #lookUp(jobId: string, node: string): Promise<WrittenReceipt | null> {
    const end = Date.now() + this.#lookMs;
    while (!this.#stopped && Date.now() < end) {
      for (const r of await receiptsForJob(this.#sql, jobId)) {
        const event = JSON.parse(r.event) as { id: string; tags: string[][] };
        if (event.tags.some((t) => t[0] === "p" && t[1] === node)) {
          return { eventId: event.id, receiptId: receiptIdOf(jobId, node) };
        }
      }
      await sleep(250);
    }
    return null;
  }

  override close(): Promise<void> {
    this.#sendEnded();
    this.#stopped = true;
    return super.close();
  }

  /** Applies a desk call another instance forwarded here, never forwarding it again. */
  applyForwarded(frame: Extract<InboxFrame, { t: "expect" | "forget" | "ended" }>): void {
    if (frame.t === "expect") super.expect(frame.job, frame.node, frame);
    else if (frame.t === "forget") super.forget(frame.job, frame.node);
    else super.attemptEnded(frame.facts);
  }
}
