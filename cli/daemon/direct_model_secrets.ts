// The model secrets a node holds (IPIP-0028 grants, docs/protocol.md §14), kept in memory for a
// while so a direct request to a model key does not read and decode its file again. A grant
// written or removed on disk is seen within the time-to-live; a key not held is asked again sooner.

/** Where the secrets come from: the node's home in production (cli/models/model_keys.ts). */
export type ModelSecretLoader = (pubkey: string) => Promise<Uint8Array | null>;

/** How long a loaded secret is kept. */
export const MODEL_SECRET_TTL_MS = 60_000;

/** How long "not held" is kept. */
export const MODEL_SECRET_MISS_TTL_MS = 5_000;

/** Most keys remembered (model keys are few; tickets naming them are signed by the control plane). */
const MAX_ENTRIES = 1024;

/** A time-limited cache in front of a {@link ModelSecretLoader}; failures are not kept. */
export class ModelSecretCache {
  #load: ModelSecretLoader;
  #now: () => number;
  #entries = new Map<string, { secret: Promise<Uint8Array | null>; until: number }>();

  constructor(load: ModelSecretLoader, opts: { now?: () => number } = {}) {
    this.#load = load;
    this.#now = opts.now ?? Date.now;
  }

  /** The secret of model key `pubkey`, or null when this node holds none. */
  get(pubkey: string): Promise<Uint8Array | null> {
    const now = this.#now();
    const hit = this.#entries.get(pubkey);
    if (hit && hit.until > now) return hit.secret;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    const secret = this.#load(pubkey);
    const entry = { secret, until: now + MODEL_SECRET_TTL_MS };
    this.#entries.set(pubkey, entry);
    secret.then((s) => {
      if (s === null) entry.until = now + MODEL_SECRET_MISS_TTL_MS;
    }, () => {
      if (this.#entries.get(pubkey) === entry) this.#entries.delete(pubkey);
    });
    return secret;
  }
}
