// One node's authenticated job socket: sends jobs and cancels, routes the node's frames to the
// job that waits on them, and fails every open job if the socket goes away.
import type { JobKind, Logger, NodeFrame, NostrEvent, ServerFrame } from "../../shared/mod.ts";
import { JobChannel } from "./job_channel.ts";
import type { NodeLink } from "./node_link.ts";

/** The sending half of a socket, so tests can stand in for a WebSocket. */
export interface FrameSink {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

/** A node's live job socket. */
export class NodeConnection implements NodeLink {
  readonly pubkey: string;
  readonly connectedAt = Date.now();
  #sink: FrameSink;
  #jobs = new Map<string, JobChannel>();
  #closed = false;
  #log: Logger;
  lastPongAt = Date.now();

  constructor(pubkey: string, sink: FrameSink, log: Logger) {
    this.pubkey = pubkey;
    this.#sink = sink;
    this.#log = log;
  }

  /** Jobs this node is working on right now (its load, as this server sees it). */
  get inFlight(): number {
    return this.#jobs.size;
  }

  /** Whether the socket is still usable. */
  get open(): boolean {
    return !this.#closed;
  }

  #send(frame: ServerFrame): boolean {
    if (this.#closed) return false;
    try {
      this.#sink.send(JSON.stringify(frame));
      return true;
    } catch (err) {
      this.#log.warn("node socket send failed", { pubkey: this.pubkey, err });
      this.close("send failed");
      return false;
    }
  }

  /** Sends a job to the node; its events arrive on the returned channel. */
  startJob(jobId: string, kind: JobKind, stream: boolean, body: Record<string, unknown>): JobChannel {
    const channel = new JobChannel();
    this.#jobs.set(jobId, channel);
    if (!this.#send({ type: "job", job_id: jobId, kind, stream, body })) {
      this.#jobs.delete(jobId);
      channel.push({ type: "lost", reason: "node socket is closed" });
    }
    return channel;
  }

  /**
   * Opens a relayed direct-mode request (docs/protocol.md §14) on the node: its answer lines arrive
   * on the channel as `chunks` of one opaque frame each, its close as `end` or `fail`.
   */
  openRelay(jobId: string, header: Record<string, unknown>): JobChannel {
    const channel = new JobChannel();
    this.#jobs.set(jobId, channel);
    if (!this.#send({ type: "relay_open", job_id: jobId, header })) {
      this.#jobs.delete(jobId);
      channel.push({ type: "lost", reason: "node socket is closed" });
    }
    return channel;
  }

  /** Forwards one opaque request line of an open relay; false when the relay or socket is gone. */
  relayFrame(jobId: string, frame: string): boolean {
    return this.#jobs.has(jobId) && this.#send({ type: "relay_frame", job_id: jobId, frame });
  }

  /** Sends a direct-mode ticket ahead of the consumer's request (docs/protocol.md §14, "Tickets ahead"). */
  announceTicket(ticket: NostrEvent): void {
    this.#send({ type: "ticket", ticket });
  }

  /** Tells the node to stop a job and forgets it here. */
  cancelJob(jobId: string, reason: string): void {
    const channel = this.#jobs.get(jobId);
    if (!channel) return;
    this.#jobs.delete(jobId);
    channel.push({ type: "lost", reason: `cancelled: ${reason}` });
    this.#send({ type: "cancel", job_id: jobId, reason });
  }

  /** Marks a job finished here without telling the node (it ended on its own). */
  releaseJob(jobId: string): void {
    this.#jobs.delete(jobId);
  }

  /** Sends a ping; the node answers with a pong. */
  ping(): void {
    this.#send({ type: "ping", t: Date.now() });
  }

  /** Routes one frame from the node. */
  handleFrame(frame: NodeFrame): void {
    switch (frame.type) {
      case "pong":
        this.lastPongAt = Date.now();
        return;
      case "auth":
        return;
      case "chunks":
        this.#jobs.get(frame.job_id)?.push({ type: "chunks", data: frame.data });
        return;
      case "response":
        this.#finish(frame.job_id)?.push({ type: "response", status: frame.status, body: frame.body });
        return;
      case "end":
        this.#finish(frame.job_id)?.push({ type: "end" });
        return;
      case "relay_frame":
        this.#jobs.get(frame.job_id)?.push({ type: "chunks", data: [frame.frame] });
        return;
      case "relay_close":
        this.#finish(frame.job_id)?.push(
          frame.error === null
            ? { type: "end" }
            : { type: "fail", code: frame.error.code, message: frame.error.message, started: false },
        );
        return;
      case "fail":
        this.#finish(frame.job_id)?.push({
          type: "fail",
          message: frame.message,
          code: frame.code,
          started: frame.started,
        });
        return;
    }
  }

  #finish(jobId: string): JobChannel | undefined {
    const channel = this.#jobs.get(jobId);
    this.#jobs.delete(jobId);
    return channel;
  }

  /** Closes the socket; every open job learns that its node is gone. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const channel of this.#jobs.values()) channel.push({ type: "lost", reason });
    this.#jobs.clear();
    try {
      this.#sink.close(1000, reason.slice(0, 120));
    } catch {
      // Already closed by the peer.
    }
  }
}
