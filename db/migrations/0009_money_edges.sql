-- Deposits are credited what the processor says was paid (`paid_amount`, nano-USD), never the
-- amount asked when the two differ; deposits credited before this were credited what was asked.
alter table payments add column paid_amount bigint check (paid_amount > 0);
update payments set paid_amount = amount where credited_at is not null;
alter table payments add constraint payments_credited_paid check ((credited_at is null) = (paid_amount is null));

-- The consumer's Idempotency-Key, per API key: a retry answers the same deposit, and the same key
-- with another amount or coin is refused.
alter table payments add column idempotency_key text;
create unique index payments_idempotency on payments (api_key_id, idempotency_key)
  where idempotency_key is not null;

-- A payout the processor accepted (`sent`) is polled until it is final, less often each time.
alter table payouts add column status_checks integer not null default 0;
alter table payouts add column next_check_at timestamptz;
create index payouts_due_check on payouts (next_check_at) where status = 'sent';
