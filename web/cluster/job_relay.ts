// The holder's side of a cross-instance job: runs it on the node's socket here and sends the
// node's events back to the instance that took the request. The first message goes as soon as
// the node's first event is here; after it, a chunk waits two turns of the event loop for the
// ones right behind it, so a burst crosses as one message (one publish here, one parse and one
// write to the consumer there) while chunks that come one by one still go one by one. That
// instance meters, bills and answers the consumer; this one only carries frames (and writes the
// node's receipt, since the node's receipt chain arrives on this socket).
import type { Logger } from "../../shared/mod.ts";
import { type JobChannel, type JobEvent, TIMED_OUT } from "../dispatch/job_channel.ts";
import { NodeConnection } from "../dispatch/node_connection.ts";
import type { NodeRegistry } from "../registry/node_registry.ts";
import type { InboxFrame } from "./cluster_frames.ts";

/** Options of {@link JobRelay}. */
export interface JobRelayOptions {
  /** This instance's id. */
  instance: string;
  registry: NodeRegistry;
  log: Logger;
  /** Sends a frame to an instance's inbox; false when it could not be sent. */
  send: (instance: string, frame: InboxFrame) => boolean;
  /** The longest one wait for the node's next event lasts (the job timeout). */
  waitMs: number;
}

/** Resolves after two turns of the event loop: what the node already sent has arrived by then. */
function twoLoopTurns(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

interface Relayed {
  origin: string;
  conn: NodeConnection;
}

/** Jobs other instances sent to nodes connected here. */
export class JobRelay {
  #opts: JobRelayOptions;
  #jobs = new Map<string, Relayed>();

  constructor(opts: JobRelayOptions) {
    this.#opts = opts;
  }

  /** Jobs being relayed now. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Starts a job on the local node, or answers at once that the node is not here. */
  start(frame: Extract<InboxFrame, { t: "job" }>): void {
    const conn = this.#opts.registry.get(frame.node)?.connection;
    if (!(conn instanceof NodeConnection) || !conn.open) {
      this.#opts.send(frame.from, {
        t: "ev",
        job: frame.job,
        node: frame.node,
        evs: [{ type: "lost", reason: `the node is no longer connected to instance ${this.#opts.instance}` }],
      });
      return;
    }
    const channel = conn.startJob(frame.job, frame.kind, frame.stream, frame.body);
    this.#jobs.set(frame.job, { origin: frame.from, conn });
    void this.#pump(frame.job, frame.node, frame.from, channel, conn);
  }

  /** Opens a relayed direct request on the local node (its lines are opaque here as there). */
  openRelay(frame: Extract<InboxFrame, { t: "relay" }>): void {
    const conn = this.#local(frame.from, frame.job, frame.node);
    if (!conn) return;
    const channel = conn.openRelay(frame.job, frame.header);
    this.#jobs.set(frame.job, { origin: frame.from, conn });
    void this.#pump(frame.job, frame.node, frame.from, channel, conn);
  }

  /** Sends a ticket announced on another instance to the local node, if its socket is here (a hint: else dropped). */
  announceTicket(frame: Extract<InboxFrame, { t: "ticket" }>): void {
    const conn = this.#opts.registry.get(frame.node)?.connection;
    if (conn instanceof NodeConnection && conn.open) {
      conn.announceTicket(frame.ticket);
    }
  }

  /** Passes an open relay's request lines to its node. */
  relayLines(jobId: string, lines: readonly string[]): void {
    const conn = this.#jobs.get(jobId)?.conn;
    for (const line of lines) if (!conn?.relayFrame(jobId, line)) return;
  }

  /** The node's socket here, or null after telling the origin that the node is not here. */
  #local(origin: string, jobId: string, node: string): NodeConnection | null {
    const conn = this.#opts.registry.get(node)?.connection;
    if (conn instanceof NodeConnection && conn.open) return conn;
    this.#opts.send(origin, {
      t: "ev",
      job: jobId,
      node,
      evs: [{ type: "lost", reason: `the node is no longer connected to instance ${this.#opts.instance}` }],
    });
    return null;
  }

  /** The origin cancelled: the node is told to stop. */
  cancel(jobId: string, reason: string): void {
    this.#jobs.get(jobId)?.conn.cancelJob(jobId, reason);
  }

  /** The instance that took these requests is gone: their jobs are stopped on the nodes. */
  originGone(instance: string): void {
    for (const [jobId, r] of this.#jobs) {
      if (r.origin === instance) {
        r.conn.cancelJob(jobId, `instance ${instance}, which took the request, is gone`);
      }
    }
  }

  async #pump(jobId: string, node: string, origin: string, channel: JobChannel, conn: NodeConnection) {
    try {
      for (let sent = 0;; sent++) {
        const first = channel.poll() ?? await channel.next(this.#opts.waitMs);
        if (first === TIMED_OUT) {
          conn.cancelJob(jobId, "no event within the job timeout");
          this.#opts.send(origin, {
            t: "ev",
            job: jobId,
            node,
            evs: [{ type: "lost", reason: "the node sent nothing within the job timeout" }],
          });
          return;
        }
        // Not the first message: the chunks right behind this one join it.
        if (sent > 0 && first.type === "chunks") await twoLoopTurns();
        // Everything already queued goes in one message: chunks merged, and the end if it came.
        const evs: JobEvent[] = [];
        let data: string[] | null = null;
        let ev: JobEvent | null = first;
        let done = false;
        while (ev !== null) {
          if (ev.type === "chunks") {
            if (data === null) evs.push({ type: "chunks", data: data = [...ev.data] });
            else data.push(...ev.data);
          } else {
            evs.push(ev);
            done = true;
            break;
          }
          ev = channel.poll();
        }
        if (!this.#opts.send(origin, { t: "ev", job: jobId, node, evs })) {
          conn.cancelJob(jobId, `instance ${origin} cannot be reached`);
          return;
        }
        if (done) return;
      }
    } finally {
      this.#jobs.delete(jobId);
    }
  }
}
