-- Spending vouchers (docs/protocol.md, "Vouchers"; issue 29): the control plane signs vouchers
-- against a key's balance ahead of time, so a consumer can pay a node while the control plane is
-- down; the node redeems each one once, later, with its receipt for the job.
--
-- Money: issuing holds count × max in the key's 'consumer_vouchers' account (one 'voucher_hold'
-- transaction per batch, 'voucher_hold:<api key>:<batch>'). Redeeming moves that voucher's max to
-- the key's holds as a job's hold ('reserve:<voucher id>') and settles it as a job is settled
-- (job_charges row of job id = the voucher id: charge capped at the max, fee split, the rest back
-- to the balance). An unredeemed voucher past its expiry goes back to the balance
-- ('voucher_release:<voucher id>').
alter table accounts drop constraint accounts_kind_check;
alter table accounts add constraint accounts_kind_check check (kind in (
  'consumer_balance', 'consumer_holds', 'consumer_vouchers', 'operator_earnings', 'platform_fees',
  'processor_clearing', 'payouts_in_flight'));

alter table ledger_transactions drop constraint ledger_transactions_kind_check;
alter table ledger_transactions add constraint ledger_transactions_kind_check check (kind in (
  'deposit', 'reserve', 'settle', 'settle_batch', 'release', 'payout', 'payout_sent', 'payout_reversed',
  'canary_funding', 'voucher_hold', 'voucher_release'));

create table vouchers (
  id             text primary key,                 -- vch_<32 hex>, the signed voucher_id
  api_key_id     bigint not null references api_keys (id),
  batch          text not null,                    -- the issue it came in (its Idempotency-Key)
  consumer       text not null,                    -- hex pubkey that must sign the job request
  max_nano       bigint not null check (max_nano > 0),
  expires_at     timestamptz not null,
  status         text not null default 'issued' check (status in ('issued', 'redeemed', 'expired')),
  redeemed_nano  bigint check (redeemed_nano >= 0 and redeemed_nano <= max_nano),
  node_pubkey    text,                             -- the node that redeemed it
  job_id         text,                             -- the job it paid for, as the node's receipt names it
  receipt_id     text,                             -- the node's receipt event id
  event          text not null,                    -- the signed voucher, as answered at issue
  created_at     timestamptz not null default now(),
  finished_at    timestamptz,
  check ((status = 'redeemed') = (redeemed_nano is not null and node_pubkey is not null)),
  check ((status = 'issued') = (finished_at is null))
);
create index vouchers_batch on vouchers (api_key_id, batch);
create index vouchers_open on vouchers (expires_at) where status = 'issued';

-- Every API key's voucher account exists, like its other two.
insert into accounts (kind, owner)
select 'consumer_vouchers', id::text from api_keys
on conflict do nothing;
