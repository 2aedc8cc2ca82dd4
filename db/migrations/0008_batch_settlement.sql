-- Jobs settled against a balance lease share one ledger transaction per settlement batch
-- (kind 'settle_batch', key 'settle_batch:<the batch's first job id>'): its postings are the
-- batch's sums per account (each key's holds, each operator's earnings, the platform's fee), and
-- each job's charge row points at it. A lease job used to get a transaction and three postings of
-- its own: four rows and a dozen index entries per request on the control plane's hot write.
-- Jobs reserved one by one (`reserveJob`) keep their own 'settle:<job>' transaction.
alter table ledger_transactions drop constraint ledger_transactions_kind_check;
alter table ledger_transactions add constraint ledger_transactions_kind_check check (kind in (
  'deposit', 'reserve', 'settle', 'settle_batch', 'release', 'payout', 'payout_sent', 'payout_reversed'));

alter table job_charges add column settle_tx_id bigint references ledger_transactions (id);

-- Lease jobs settled before this migration point at their own 'settle:<job>' transaction.
update job_charges jc set settle_tx_id = t.id
from ledger_transactions t
where jc.lease_id is not null and t.idempotency_key = 'settle:' || jc.job_id;
