-- Verification (docs/protocol.md, "Verification"): canary jobs the control plane sends to nodes
-- and its signed verdicts on them (kind 7477).
--
-- The platform's canary API key: a key like a consumer's, marked as the platform's, so canaries
-- travel the consumer path and settle as consumer jobs (the operator is paid at the normal price)
-- while its balance is funded from the platform's fees, never from a consumer. At most one.
alter table api_keys add column platform boolean not null default false;
create unique index api_keys_one_platform on api_keys (platform) where platform;

-- 'canary_funding': platform fees → the canary key's balance ('canary_funding:<id>').
alter table ledger_transactions drop constraint ledger_transactions_kind_check;
alter table ledger_transactions add constraint ledger_transactions_kind_check check (kind in (
  'deposit', 'reserve', 'settle', 'settle_batch', 'release', 'payout', 'payout_sent', 'payout_reversed',
  'canary_funding'));

-- One row per verification event; append-only like the receipts, served at /api/verifications.
create table verifications (
  event_id          text primary key,
  receipt_event_id  text not null,
  job_id            text not null,
  node_pubkey       text not null,
  check_kind        text not null check (check_kind in ('canary', 'cross_check', 'metering', 'hardware')),
  result            text not null check (result in ('pass', 'fail')),
  detail            text not null,
  created_at        bigint not null,
  event             text not null
);
create index verifications_node_time on verifications (node_pubkey, created_at);

create trigger verifications_append_only before update or delete on verifications
  for each row execute function append_only();
