// Tickets announced ahead (docs/protocol.md §14, "Tickets ahead"): when the control plane routes a
// direct-mode job to this node first, it also sends the ticket over the job socket. The node checks
// it then, and computes the conversation key with the consumer's one-off key, while the consumer
// is still sealing and connecting; the request that carries the same ticket skips both (a ticket
// signature check and an ECDH, ~0.1 ms of its path here). An announcement is only a head start:
// what decides is the ticket the request carries, and one that was never announced (or was
// dropped: full, expired) is checked as it comes. Nothing is claimed or refused here.
import {
  conversationKey,
  type Nip44Cipher,
  type SharedXBackend,
  type VerifiedTicket,
  verifyTicket,
} from "../../shared/direct/mod.ts";
import { isRecord, type NostrEvent } from "../../shared/mod.ts";

/** Tickets held at most (a route answer is ~1 KB of them; 4,096 is a few MB at worst). */
export const MAX_HEAD_STARTS = 4_096;

/**
 * A ticket checked ahead, and its conversation key with the secret it was computed from (the node's,
 * or a granted model key's); null while a model secret is still being looked up, or when none is held.
 */
export interface HeadStart {
  ticket: VerifiedTicket;
  key: { secret: Uint8Array; key: Uint8Array } | null;
}

/** What checking ahead needs: the same keys and backends as admission. */
export interface HeadStartDeps {
  nodeSecretKey: Uint8Array;
  nodePubkey: string;
  /** The control plane's key as known now (null: nothing is checked ahead). */
  platformPubkey: () => string | null;
  secp: SharedXBackend & { verifyEvent(event: NostrEvent): boolean };
  cipher?: Nip44Cipher;
  /** The secret of a model key granted to this node, or null (for `target` "model" tickets). */
  modelSecret?: (pubkey: string) => Promise<Uint8Array | null>;
  max?: number;
}

/** Tickets the control plane announced, checked, until a request takes them or they expire. */
export class TicketHeadStarts {
  #deps: HeadStartDeps;
  #max: number;
  /** By ticket event id, oldest first. */
  #held = new Map<string, HeadStart>();

  constructor(deps: HeadStartDeps) {
    this.#deps = deps;
    this.#max = deps.max ?? MAX_HEAD_STARTS;
  }

  /** How many are held. */
  get size(): number {
    return this.#held.size;
  }

  /** Checks an announced ticket at `nowS` and keeps it when it is good; says whether it was kept. */
  announce(raw: unknown, nowS: number): boolean {
    const platformPubkey = this.#deps.platformPubkey();
    if (platformPubkey === null) return false;
    const check = verifyTicket(raw, {
      platformPubkey,
      node: this.#deps.nodePubkey,
      nowS,
      verify: this.#deps.secp.verifyEvent,
    });
    if (!check.ok || this.#held.has(check.ticket.event.id)) return false;
    const t = check.ticket.content;
    const held: HeadStart = { ticket: check.ticket, key: null };
    if (t.target === "node") {
      held.key = this.#keyWith(this.#deps.nodeSecretKey, t.consumer);
      if (held.key === null) return false; // Not a curve point: the request will be refused as it comes.
    } else if (this.#deps.modelSecret) {
      // The grant's secret is looked up (usually cached); the key is there if it is found in time.
      this.#deps.modelSecret(t.model_key as string).then((secret) => {
        if (secret !== null) held.key = this.#keyWith(secret, t.consumer);
      }, () => {});
    }
    if (this.#held.size >= this.#max) this.#forget(nowS);
    this.#held.set(check.ticket.event.id, held);
    return true;
  }

  #keyWith(secret: Uint8Array, consumer: string): HeadStart["key"] {
    try {
      return {
        secret,
        key: conversationKey(secret, consumer, { secp: this.#deps.secp, cipher: this.#deps.cipher }),
      };
    } catch {
      return null;
    }
  }

  /**
   * The head start of the ticket a request carries, once (it is forgotten here): only when the
   * request's ticket is the announced event itself (every field the same) and has not expired at
   * `nowS`; else null, and the request's ticket is checked in full.
   */
  take(raw: unknown, nowS: number): HeadStart | null {
    if (this.#held.size === 0 || !isRecord(raw) || typeof raw.id !== "string") return null;
    const held = this.#held.get(raw.id);
    if (held === undefined) return null;
    const event = held.ticket.event;
    if (
      raw.sig !== event.sig || raw.content !== event.content || raw.pubkey !== event.pubkey ||
      raw.kind !== event.kind || raw.created_at !== event.created_at || !sameTags(raw.tags, event.tags)
    ) {
      return null;
    }
    this.#held.delete(raw.id);
    return held.ticket.content.expires_at >= nowS ? held : null;
  }

  /** Drops expired tickets, then the oldest until there is room for one more. */
  #forget(nowS: number): void {
    for (const [id, h] of this.#held) if (h.ticket.content.expires_at < nowS) this.#held.delete(id);
    for (const id of this.#held.keys()) {
      if (this.#held.size < this.#max) break;
      this.#held.delete(id);
    }
  }
}

function sameTags(a: unknown, b: string[][]): boolean {
  return Array.isArray(a) && a.length === b.length &&
    a.every((tag, i) =>
      Array.isArray(tag) && tag.length === b[i].length && tag.every((v, j) => v === b[i][j])
    );
}
