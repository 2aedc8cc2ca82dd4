// The node on Nostr relays (docs/protocol.md §16): it publishes its signed node record and one live
// offer per model to every configured relay, refreshes them on the heartbeat interval (each offer
// expires three intervals after it was signed, so a crashed node's offers vanish by themselves),
// and on stop deletes its offers (NIP-09). A relay that is down or refuses costs only its own copy.
import {
  createNodeRecord,
  fastestSecp256k1,
  type Logger,
  type NodeAdvert,
  type Secp256k1Backend,
} from "../../shared/mod.ts";
import {
  offerDeletionTemplate,
  type OfferInput,
  offerTemplate,
  type PublishResult,
  RelayPool,
} from "../../shared/relay/mod.ts";
import type { NodeIdentity } from "../identity/node_key.ts";

/** What the relay publisher needs. */
export interface RelayOffersOptions {
  relays: readonly string[];
  identity: NodeIdentity;
  /** The current advertisement (it changes on a price reload or a drain). */
  advert: () => NodeAdvert;
  /** Free job slots now. */
  freeSlots: () => number;
  /** The control plane, for the receipts link (null when the node runs without one). */
  server: string | null;
  log: Logger;
  refreshMs?: number;
  /** Offer lifetime in seconds (default three refresh intervals, at least 30 s). */
  ttlS?: number;
  /** Longest a publish waits for one relay's answer (default 5 s). */
  publishTimeoutMs?: number;
}

/** Publishes a node's record and offers to relays until stopped. */
export class RelayOffers {
  #opts: RelayOffersOptions & { refreshMs: number; ttlS: number };
  #pool: RelayPool | null = null;
  #curve: Secp256k1Backend | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** Models whose offers are live on the relays, for the deletion on stop. */
  #published = new Set<string>();
  #refreshing: Promise<void> = Promise.resolve();
  #starting: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | null = null;

  constructor(opts: RelayOffersOptions) {
    const refreshMs = opts.refreshMs ?? 30_000;
    this.#opts = { ...opts, refreshMs, ttlS: opts.ttlS ?? Math.max(30, Math.ceil((3 * refreshMs) / 1000)) };
  }

  /**
   * Connects, publishes once, and refreshes on the interval. Resolves after the first round.
   * A stop while it runs waits for it, then deletes what it published; after a stop it does nothing.
   */
  start(): Promise<PublishResult[]> {
    const run = this.#start();
    this.#starting = run.then(() => {}, () => {});
    return run;
  }

  async #start(): Promise<PublishResult[]> {
    if (this.#stopping) return [];
    this.#curve = await fastestSecp256k1();
    if (this.#stopping) return [];
    this.#pool = new RelayPool(this.#opts.relays, {
      verifyEvent: this.#curve.verifyEvent,
      publishTimeoutMs: this.#opts.publishTimeoutMs ?? 5_000,
    });
    const first = await this.refresh();
    if (this.#stopping) return first;
    this.#timer = setInterval(() => {
      this.refresh().catch((err) =>
        this.#opts.log.warn("offers not refreshed", { err: (err as Error).message })
      );
    }, this.#opts.refreshMs);
    return first;
  }

  /** Publishes the node record and every offer now; returns each relay's answer to each event. */
  refresh(): Promise<PublishResult[]> {
    const run = this.#refreshing.then(() => this.#publishAll());
    this.#refreshing = run.then(() => {}, () => {});
    return run;
  }

  async #publishAll(): Promise<PublishResult[]> {
    const pool = this.#pool, curve = this.#curve;
    if (!pool || !curve) return [];
    const advert = this.#opts.advert();
    const { secretKey, pubkey } = this.#opts.identity;
    const events = [createNodeRecord(secretKey, advert)];
    const free = Math.min(advert.maxConcurrency, Math.max(0, this.#opts.freeSlots()));
    for (const m of advert.models) {
      const input: OfferInput = {
        nodeId: advert.nodeId,
        model: m.id,
        promptPer1k: m.promptPricePer1k,
        completionPer1k: m.completionPricePer1k,
        vramTier: advert.vramTier,
        maxConcurrency: advert.maxConcurrency,
        freeSlots: free,
        contextLength: m.contextLength,
        ...(m.quantization ? { quantization: m.quantization } : {}),
        endpoint: advert.endpoint,
        receiptsUrl: this.#opts.server ? `${this.#opts.server}/api/receipts?node=${pubkey}` : null,
      };
      events.push(curve.finalizeEvent(offerTemplate(input, pubkey, this.#opts.ttlS), secretKey));
    }
    // Models no longer offered (a drain, an engine change) are deleted rather than left to expire.
    const gone = [...this.#published].filter((id) => !advert.models.some((m) => m.id === id));
    if (gone.length) events.push(curve.finalizeEvent(offerDeletionTemplate(pubkey, gone), secretKey));
    const results = (await Promise.all(events.map((e) => pool.publish(e)))).flat();
    this.#published = new Set(advert.models.map((m) => m.id));
    const failed = results.filter((r) => !r.ok);
    if (failed.length) {
      this.#opts.log.warn("some relays did not take the offers", {
        failed: failed.map((r) => `${r.url}: ${r.reason}`).slice(0, 10),
      });
    }
    return results;
  }

  /**
   * Stops refreshing and deletes the offers (NIP-09); without `deleteOffers`, they just expire.
   * Calling it again returns the first call's promise.
   */
  stop(opts: { deleteOffers?: boolean } = {}): Promise<void> {
    this.#stopping ??= this.#stop(opts.deleteOffers ?? true);
    return this.#stopping;
  }

  async #stop(deleteOffers: boolean): Promise<void> {
    await this.#starting;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#refreshing;
    const pool = this.#pool, curve = this.#curve;
    this.#pool = null;
    if (!pool || !curve) return;
    if (deleteOffers && this.#published.size > 0) {
      const { secretKey, pubkey } = this.#opts.identity;
      await pool.publish(curve.finalizeEvent(offerDeletionTemplate(pubkey, [...this.#published]), secretKey));
    }
    pool.close();
  }
}
