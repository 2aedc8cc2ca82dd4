-- Payouts: when an operator first set each payout address (the default coin is the first one
-- set; `updated_at` moves on every change), and one open payout sweep index per node.
alter table payout_addresses add column created_at timestamptz not null default now();
create index payouts_node_status on payouts (node_pubkey, status);
