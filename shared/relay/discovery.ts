// Finding nodes on relays: the live offers of a model, checked one by one (docs/protocol.md §16).
import type { NostrEvent } from "../nostr/event.ts";
import { nowSeconds } from "../nostr/event.ts";
import { type Offer, OFFER_KIND, OFFER_TAG, offerOfVerifiedEvent } from "./offer.ts";
import type { Filter, RelayPool } from "./relay_pool.ts";

/** What to look for. */
export interface DiscoverOptions {
  /** Only offers of this model (the relays filter by `#d`). */
  model?: string;
  /** Models the caller knows; offers of others are dropped. */
  knownModels?: ReadonlySet<string>;
  /** Only offers from these node keys (hex). */
  authors?: string[];
  /** The clock offers' expirations are checked against, in Unix seconds. */
  nowS?: number;
  /** Told why each dropped offer was dropped. */
  onDropped?: (event: NostrEvent, reason: string) => void;
}

/** The relay filter of a discovery. */
export function offerFilter(opts: Pick<DiscoverOptions, "model" | "authors"> = {}): Filter {
  return {
    kinds: [OFFER_KIND],
    "#t": [OFFER_TAG],
    ...(opts.model === undefined ? {} : { "#d": [opts.model] }),
    ...(opts.authors === undefined ? {} : { authors: opts.authors }),
  };
}

/**
 * The verified, unexpired offers on the pool's relays, the newest per node and model, cheapest
 * completion price first. Forged, expired, malformed, under- or over-priced offers and offers of
 * unknown models are dropped.
 *
 * @example const offers = await discoverOffers(pool, { model: "qwen2.5:7b" });
 */
export async function discoverOffers(pool: RelayPool, opts: DiscoverOptions = {}): Promise<Offer[]> {
  const nowS = opts.nowS ?? nowSeconds();
  const newest = new Map<string, Offer>();
  const events = await pool.query([offerFilter(opts)]);
  for (const event of events) {
    // The pool verified every event it delivered; only the offer's own rules are left to check.
    const check = offerOfVerifiedEvent(event, nowS);
    if (!check.ok) {
      opts.onDropped?.(event, check.reason);
      continue;
    }
    const offer = check.offer;
    if (opts.knownModels && !opts.knownModels.has(offer.model)) {
      opts.onDropped?.(event, "unknown model");
      continue;
    }
    const key = `${offer.pubkey}:${offer.nodeId}:${offer.model}`;
    const held = newest.get(key);
    if (!held || offer.createdAt > held.createdAt) newest.set(key, offer);
  }
  return [...newest.values()].sort((a, b) =>
    a.completionPer1k - b.completionPer1k || a.promptPer1k - b.promptPer1k || b.createdAt - a.createdAt
  );
}
