// A node whose socket another instance holds: jobs and cancels go to that instance's inbox over
// NATS, the node's events come back on this instance's inbox and are queued on the job's channel,
// so dispatch and the /v1 handlers treat it as they treat a local socket.
import type { JobKind, NostrEvent } from "../../shared/mod.ts";
import { JobChannel, type JobEvent } from "../dispatch/job_channel.ts";
import type { NodeLink } from "../dispatch/node_link.ts";
import type { InboxFrame } from "./cluster_frames.ts";

/** Sends one frame to the instance that holds the node; false when it could not be sent. */
export type SendToHolder = (frame: InboxFrame) => boolean;

/** A node reached through the instance `instance`. */
export class RemoteLink implements NodeLink {
  readonly pubkey: string;
  readonly instance: string;
  /** The node's load as its instance last reported it (every beat). */
  reportedLoad = 0;
  #from: string;
  #send: SendToHolder;
  #jobs = new Map<string, JobChannel>();
  #closed = false;

  /** `from`: this instance's id, where the node's events are to be sent. */
  constructor(pubkey: string, instance: string, from: string, send: SendToHolder) {
    this.pubkey = pubkey;
    this.instance = instance;
    this.#from = from;
    this.#send = send;
  }

  /** The holder's last report, or the jobs sent from here if more (a report lags by up to a beat). */
  get inFlight(): number {
    return Math.max(this.reportedLoad, this.#jobs.size);
  }

  get open(): boolean {
    return !this.#closed;
  }

  /** The holder pings the node; this link is as alive as its instance's beats say. */
  get lastPongAt(): number {
    return Date.now();
  }

  startJob(jobId: string, kind: JobKind, stream: boolean, body: Record<string, unknown>): JobChannel {
    const channel = new JobChannel();
    this.#jobs.set(jobId, channel);
    const frame: InboxFrame = {
      t: "job",
      from: this.#from,
      job: jobId,
      node: this.pubkey,
      kind,
      stream,
      body,
    };
    if (this.#closed || !this.#send(frame)) {
      this.#jobs.delete(jobId);
      channel.push({ type: "lost", reason: `instance ${this.instance} cannot be reached` });
    }
    return channel;
  }

  /** A relayed direct request goes to the holder, which opens it on the node's socket. */
  openRelay(jobId: string, header: Record<string, unknown>): JobChannel {
    const channel = new JobChannel();
    this.#jobs.set(jobId, channel);
    const frame: InboxFrame = { t: "relay", from: this.#from, job: jobId, node: this.pubkey, header };
    if (this.#closed || !this.#send(frame)) {
      this.#jobs.delete(jobId);
      channel.push({ type: "lost", reason: `instance ${this.instance} cannot be reached` });
    }
    return channel;
  }

  relayFrame(jobId: string, frame: string): boolean {
    return this.#jobs.has(jobId) && this.#send({ t: "rf", job: jobId, lines: [frame] });
  }

  /** A ticket announced ahead goes to the holder, which sends it on the node's socket. */
  announceTicket(ticket: NostrEvent): void {
    if (!this.#closed) this.#send({ t: "ticket", node: this.pubkey, ticket });
  }

  cancelJob(jobId: string, reason: string): void {
    const channel = this.#jobs.get(jobId);
    if (!channel) return;
    this.#jobs.delete(jobId);
    channel.push({ type: "lost", reason: `cancelled: ${reason}` });
    this.#send({ t: "cancel", job: jobId, reason });
  }

  releaseJob(jobId: string): void {
    this.#jobs.delete(jobId);
  }

  ping(): void {}

  /** Queues events the holder relayed; a terminal one ends the job here. */
  deliver(jobId: string, events: readonly JobEvent[]): void {
    const channel = this.#jobs.get(jobId);
    if (!channel) return;
    for (const ev of events) {
      if (ev.type !== "chunks") this.#jobs.delete(jobId);
      channel.push(ev);
    }
  }

  /** The holder is gone (or the node moved): every open job learns it. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const channel of this.#jobs.values()) channel.push({ type: "lost", reason });
    this.#jobs.clear();
  }
}
