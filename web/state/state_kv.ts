// The part of Deno KV the shared state uses: get, set with expiry, and atomic check-and-set over a
// few keys. A local `Deno.Kv` is one (the single-machine default); `PgStateKv` is the other, for
// several instances on one PostgreSQL (docs/architecture.md, "Several instances: shared state").

/** An atomic operation: every check must hold, then every mutation applies, or none does. */
export interface StateAtomic {
  check(...checks: Deno.AtomicCheck[]): StateAtomic;
  set(key: Deno.KvKey, value: unknown, options?: { expireIn?: number }): StateAtomic;
  delete(key: Deno.KvKey): StateAtomic;
  commit(): Promise<Deno.KvCommitResult | Deno.KvCommitError>;
}

/** Small records with an expiry, shared by every instance that opens the same store. */
export interface StateKv {
  get<T = unknown>(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<T>>;
  set(key: Deno.KvKey, value: unknown, options?: { expireIn?: number }): Promise<Deno.KvCommitResult>;
  delete(key: Deno.KvKey): Promise<void>;
  atomic(): StateAtomic;
}
