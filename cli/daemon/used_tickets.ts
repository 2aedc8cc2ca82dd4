// Single use of direct-mode tickets (docs/protocol.md §14): the node remembers each job id it
// accepted until its ticket expires, so a ticket replayed (by the consumer, or by anyone who saw it)
// is refused. Bounded: past the limit, expired ids are forgotten first; if all are live, the node
// takes no more tickets until some expire.

/** Default bound on remembered job ids. */
export const MAX_USED_TICKETS = 100_000;

/** What claiming a job id gave. */
export type Claim = "claimed" | "reused" | "full";

/** The job ids of accepted tickets, each until its ticket's expiry. */
export class UsedTickets {
  #expiresAt = new Map<string, number>();
  #max: number;

  constructor(opts: { max?: number } = {}) {
    this.#max = opts.max ?? MAX_USED_TICKETS;
  }

  /** How many job ids are remembered. */
  get size(): number {
    return this.#expiresAt.size;
  }

  /** Claims `jobId` (its ticket expires at `expiresAtS`) at `nowS`. */
  claim(jobId: string, expiresAtS: number, nowS: number): Claim {
    const known = this.#expiresAt.get(jobId);
    if (known !== undefined && known >= nowS) return "reused";
    if (this.#expiresAt.size >= this.#max) this.#forgetExpired(nowS);
    if (this.#expiresAt.size >= this.#max) return "full";
    this.#expiresAt.set(jobId, expiresAtS);
    return "claimed";
  }

  #forgetExpired(nowS: number): void {
    for (const [id, at] of this.#expiresAt) if (at < nowS) this.#expiresAt.delete(id);
  }
}
