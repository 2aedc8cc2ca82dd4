-- Balance leases: a control-plane instance holds a chunk of a key's balance once (one reserve
-- transaction, job_id = the lease id) and reserves each job against it in memory, so no request
-- waits on the database before its first token. A job settled under a lease gets its charge row
-- at settlement (reserved = what was set aside for it in memory); the lease's `held` drops by
-- what is charged, and what is left goes back to the balance when the lease is released (idle,
-- shutdown, or swept when its instance stopped renewing it).
create table balance_leases (
  id          text primary key,
  api_key_id  bigint not null references api_keys (id),
  instance    text not null,
  held        bigint not null default 0 check (held >= 0),
  created_at  timestamptz not null default now(),
  renewed_at  timestamptz not null default now(),
  released_at timestamptz,
  check (released_at is null or held = 0)
);
create index balance_leases_open on balance_leases (renewed_at) where released_at is null;

alter table job_charges add column lease_id text references balance_leases (id);
create index job_charges_lease on job_charges (lease_id) where lease_id is not null;
