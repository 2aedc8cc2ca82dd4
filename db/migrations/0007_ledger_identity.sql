-- One random id per ledger, made once. A control plane's settlement journal (web/jobs/
-- settlement_journal.ts) is stamped with it, so a journal is only ever replayed into the ledger
-- it was written for (not into another database the same data directory was later pointed at).
create table if not exists ledger_identity (
  id text primary key,
  created_at timestamptz not null default now(),
  one boolean not null default true unique check (one)
);
insert into ledger_identity (id) values (gen_random_uuid()::text) on conflict do nothing;
