// What the router and the /v1 handlers hold of a node: its socket on this instance
// (NodeConnection), or a link to the instance that holds the socket (web/cluster/remote_link.ts).
import type { JobKind, NostrEvent } from "../../shared/mod.ts";
import type { JobChannel } from "./job_channel.ts";

/** A way to send a node jobs and cancels, wherever its socket is. */
export interface NodeLink {
  readonly pubkey: string;
  /** Jobs this node is working on (its load, as far as this instance knows). */
  readonly inFlight: number;
  /** Whether jobs can be sent. */
  readonly open: boolean;
  /** When the node last answered a ping (a link to another instance counts as always answering). */
  readonly lastPongAt: number;
  /** Sends a job to the node; its events arrive on the returned channel. */
  startJob(jobId: string, kind: JobKind, stream: boolean, body: Record<string, unknown>): JobChannel;
  /** Opens a relayed direct-mode request (docs/protocol.md §14). */
  openRelay(jobId: string, header: Record<string, unknown>): JobChannel;
  /** Forwards one request line of an open relay; false when it is gone. */
  relayFrame(jobId: string, frame: string): boolean;
  /**
   * Sends a direct-mode ticket to the node ahead of the consumer's request, so it is checked by
   * then (docs/protocol.md §14, "Tickets ahead"); a hint, dropped wherever it cannot go.
   */
  announceTicket(ticket: NostrEvent): void;
  /** Tells the node to stop a job and forgets it here. */
  cancelJob(jobId: string, reason: string): void;
  /** Marks a job finished here without telling the node. */
  releaseJob(jobId: string): void;
  /** Sends a keepalive ping where there is a socket to keep alive. */
  ping(): void;
  /** Closes the link; every open job learns that its node is gone. */
  close(reason: string): void;
}
