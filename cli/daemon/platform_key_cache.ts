// The control plane's key as the node daemon knows it, for checking direct-mode tickets offline
// (docs/protocol.md §14). Fetched from `<server>/.well-known/infernet.json` at start, and again when
// a ticket's signer is unknown (the key was rotated), at most once a minute so forged tickets cannot
// make the node hammer the control plane.
import { fetchPlatformKey } from "../receipts/receipt_input.ts";

/** How often an unknown signer may trigger a fetch. */
export const PLATFORM_KEY_REFRESH_MS = 60_000;

/** Where a key comes from: the control plane in production, a constant in tests. */
export type PlatformKeyFetcher = () => Promise<string>;

/** The control plane's current key, with a rate-limited refresh. */
export class PlatformKeyCache {
  #fetch: PlatformKeyFetcher;
  #key: string | null = null;
  #lastFetchMs = -Infinity;
  #fetching: Promise<string | null> | null = null;
  #now: () => number;

  constructor(fetch: PlatformKeyFetcher, opts: { now?: () => number } = {}) {
    this.#fetch = fetch;
    this.#now = opts.now ?? Date.now;
  }

  /** A cache of the key served by `server`. */
  static forServer(server: string): PlatformKeyCache {
    return new PlatformKeyCache(() => fetchPlatformKey(server));
  }

  /** The key last fetched (null before the first fetch succeeded). */
  get current(): string | null {
    return this.#key;
  }

  /** Fetches the key unless one was fetched within the last minute; the key known afterwards. */
  refresh(): Promise<string | null> {
    // A fetch under way answers every caller: one that came meanwhile would get no key yet.
    if (this.#fetching) return this.#fetching;
    const now = this.#now();
    if (now - this.#lastFetchMs < PLATFORM_KEY_REFRESH_MS) return Promise.resolve(this.#key);
    this.#lastFetchMs = now;
    const fetching = this.#fetch().then((key) => this.#key = key).finally(() => this.#fetching = null);
    this.#fetching = fetching;
    return fetching;
  }
}
