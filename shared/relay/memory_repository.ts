// The relay's storage: an in-memory EventRepository for @nostr-relay/core (its SQLite backend needs
// better-sqlite3's native build, which does not install here). NIP-01 storage rules: replaceable
// kinds (0, 3, 10000–19999) keep the newest per pubkey, addressable kinds (30000–39999) the newest
// per pubkey and `d` tag; NIP-40: an expired event is never served and is dropped; NIP-09 deletions
// (the request is kept and passed on too).
import {
  type Event,
  EventRepository,
  type EventRepositoryUpsertResult,
  type Filter,
} from "@nostr-relay/common";
import { matchFilter } from "nostr-tools/filter";

/** How many events the relay holds before it refuses more (a local relay, not an archive). */
export const DEFAULT_MAX_EVENTS = 200_000;

function replaceKey(event: Event): string | null {
  const k = event.kind;
  if (k === 0 || k === 3 || (k >= 10_000 && k < 20_000)) return `${k}:${event.pubkey}:`;
  if (k >= 30_000 && k < 40_000) {
    const d = event.tags.find((t) => t[0] === "d")?.[1] ?? "";
    return `${k}:${event.pubkey}:${d}`;
  }
  return null;
}

/** The NIP-40 expiration of an event in Unix seconds, or null. */
export function expirationOf(event: Pick<Event, "tags">): number | null {
  const tag = event.tags.find((t) => t[0] === "expiration");
  const at = tag ? Number(tag[1]) : NaN;
  return Number.isSafeInteger(at) ? at : null;
}

// NIP-01: newer created_at wins; on a tie, the lowest id.
function isNewer(a: Event, b: Event): boolean {
  return a.created_at > b.created_at || (a.created_at === b.created_at && a.id < b.id);
}

/** Events kept in maps, indexed by id, kind and replaceable address. */
export class MemoryEventRepository extends EventRepository {
  #byId = new Map<string, Event>();
  #byKind = new Map<number, Set<string>>();
  #byAddress = new Map<string, string>();
  #maxEvents: number;
  #nowS: () => number;
  /** Passes on a deletion request once stored (the library broadcasts every other event itself). */
  onDeletion: ((deletion: Event) => void) | null = null;

  constructor(opts: { maxEvents?: number; nowS?: () => number } = {}) {
    super();
    this.#maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
    this.#nowS = opts.nowS ?? (() => Math.floor(Date.now() / 1000));
  }

  /** How many events are stored. */
  get size(): number {
    return this.#byId.size;
  }

  isSearchSupported(): boolean {
    return false;
  }

  upsert(event: Event): EventRepositoryUpsertResult {
    if (this.#byId.has(event.id)) return { isDuplicate: true };
    const key = replaceKey(event);
    const held = key === null ? undefined : this.#byId.get(this.#byAddress.get(key) ?? "");
    // An older version of a replaceable event changes nothing, and is not broadcast either.
    if (held && !isNewer(event, held)) return { isDuplicate: true };
    if (held) this.#remove(held);
    if (this.#byId.size >= this.#maxEvents) this.#sweepExpired();
    if (this.#byId.size >= this.#maxEvents) throw new Error("the relay is full");
    this.#byId.set(event.id, event);
    let ids = this.#byKind.get(event.kind);
    if (!ids) this.#byKind.set(event.kind, ids = new Set());
    ids.add(event.id);
    if (key !== null) this.#byAddress.set(key, event.id);
    return { isDuplicate: false };
  }

  find(filter: Filter): Event[] {
    const now = this.#nowS();
    const out: Event[] = [];
    for (const id of this.#candidates(filter)) {
      const event = this.#byId.get(id);
      if (!event) continue;
      const exp = expirationOf(event);
      if (exp !== null && exp <= now) {
        this.#remove(event);
        continue;
      }
      if (matchFilter(filter as Parameters<typeof matchFilter>[0], event)) out.push(event);
    }
    // NIP-01: newest first, and `limit` counts from the newest.
    out.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
    return filter.limit === undefined ? out : out.slice(0, filter.limit);
  }

  override deleteByDeletionRequest(deletion: Event): Promise<void> {
    // NIP-09: only the author's own events go, by id (`e`) or by address (`a` = kind:pubkey:d).
    for (const [name, value] of deletion.tags) {
      if (name === "e") {
        const event = this.#byId.get(value);
        if (event && event.pubkey === deletion.pubkey) this.#remove(event);
      } else if (name === "a" && value?.split(":")[1] === deletion.pubkey) {
        const event = this.#byId.get(this.#byAddress.get(value) ?? "");
        if (event && event.created_at <= deletion.created_at) this.#remove(event);
      }
    }
    // NIP-09: the request itself is kept and passed on, so that readers that held the deleted
    // events learn of it (@nostr-relay/core neither stores nor broadcasts kind 5).
    try {
      if (!this.upsert(deletion).isDuplicate) this.onDeletion?.(deletion);
    } catch {
      // Full: the deletion still applied; only its record is not kept.
    }
    return Promise.resolve();
  }

  destroy(): Promise<void> {
    this.#byId.clear();
    this.#byKind.clear();
    this.#byAddress.clear();
    return Promise.resolve();
  }

  #candidates(filter: Filter): Iterable<string> {
    if (filter.ids) return filter.ids;
    if (filter.kinds) return filter.kinds.flatMap((k) => [...(this.#byKind.get(k) ?? [])]);
    return [...this.#byId.keys()];
  }

  #remove(event: Event): void {
    this.#byId.delete(event.id);
    this.#byKind.get(event.kind)?.delete(event.id);
    const key = replaceKey(event);
    if (key !== null && this.#byAddress.get(key) === event.id) this.#byAddress.delete(key);
  }

  #sweepExpired(): void {
    const now = this.#nowS();
    for (const event of [...this.#byId.values()]) {
      const exp = expirationOf(event);
      if (exp !== null && exp <= now) this.#remove(event);
    }
  }
}
