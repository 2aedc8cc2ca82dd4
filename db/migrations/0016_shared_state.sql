-- State that several control-plane instances on one PostgreSQL share (docs/architecture.md,
-- "Several instances: shared state"). The single-machine default keeps it in memory and in the
-- local Deno KV file and leaves these tables empty.

-- Small records with an expiry: the NIP-98 replay window, Nostr login challenges, device logins,
-- revoked sessions, the session secret. `key` is the JSON of a Deno KV key; `version` is what a
-- check-and-set compares; an expired row reads as absent and is swept.
create table shared_state (
  key         text primary key,
  value       jsonb not null,
  version     bigint not null,
  expires_at  timestamptz
);
create index shared_state_expiry on shared_state (expires_at) where expires_at is not null;
create sequence shared_state_version;

-- Token buckets of the rate limits (per API key, key creation and logins per address): one row per
-- limit and caller, taken from in one statement on the database's clock. `full_at` is when the
-- bucket is full again; a row past it holds nothing a fresh bucket would not, and is swept.
create unlogged table rate_buckets (
  limiter   text not null,
  key       text not null,
  tokens    double precision not null,
  at        timestamptz not null,
  full_at   timestamptz not null,
  primary key (limiter, key)
);
create index rate_buckets_full on rate_buckets (full_at);
