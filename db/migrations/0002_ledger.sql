-- The ledger: double-entry, integer nano-USD (1e-9 USD). Every movement is one row in
-- ledger_transactions (unique idempotency key) and postings that sum to zero; accounts.balance is
-- kept in step with its postings inside the same transaction (checked by `deno task reconcile`).
create table accounts (
  id          bigint generated always as identity primary key,
  kind        text not null check (kind in (
                'consumer_balance',   -- what a consumer (an API key) may spend
                'consumer_holds',     -- reserved for jobs in flight
                'operator_earnings',  -- owed to an operator (node pubkey), not yet paid out
                'platform_fees',      -- the platform's published fee
                'processor_clearing', -- money in and out through the payment processor (negative: in)
                'payouts_in_flight'   -- sent to the processor, not yet confirmed or reversed
              )),
  owner       text not null default '',
  balance     bigint not null default 0,
  created_at  timestamptz not null default now(),
  unique (kind, owner),
  constraint accounts_never_negative check (kind = 'processor_clearing' or balance >= 0)
);

create table ledger_transactions (
  id               bigint generated always as identity primary key,
  idempotency_key  text not null unique,
  kind             text not null check (kind in (
                     'deposit', 'reserve', 'settle', 'release', 'payout', 'payout_sent', 'payout_reversed')),
  job_id           text,
  payment_id       text,
  payout_id        bigint,
  created_at       timestamptz not null default now()
);
create index ledger_transactions_created on ledger_transactions (created_at);

create table postings (
  id              bigint generated always as identity primary key,
  transaction_id  bigint not null references ledger_transactions (id),
  account_id      bigint not null references accounts (id),
  amount          bigint not null check (amount <> 0)
);
create index postings_transaction on postings (transaction_id);
create index postings_account on postings (account_id, transaction_id desc);

-- One row per job that reserved money: the hold, then how it was settled (exactly once).
create table job_charges (
  job_id                   text primary key,
  api_key_id               bigint not null references api_keys (id),
  reserved                 bigint not null check (reserved > 0),
  node_pubkey              text,
  prompt_tokens            integer,
  completion_tokens        integer,
  prompt_price_per_1k      bigint,
  completion_price_per_1k  bigint,
  fee_bps                  integer,
  charged                  bigint check (charged >= 0 and charged <= reserved),
  operator_share           bigint check (operator_share >= 0),
  platform_fee             bigint check (platform_fee >= 0),
  reserved_at              timestamptz not null default now(),
  settled_at               timestamptz,
  check (settled_at is null or charged = operator_share + platform_fee)
);
create index job_charges_open on job_charges (reserved_at) where settled_at is null;
create index job_charges_node on job_charges (node_pubkey, settled_at);

-- Consumer deposits through the payment processor (CoinPayPortal).
create table payments (
  id              text primary key,              -- the processor's payment id
  api_key_id      bigint not null references api_keys (id),
  amount          bigint not null check (amount > 0),
  coin            text not null,
  payment_address text not null,
  crypto_amount   text not null,
  qr_code         text not null,
  status          text not null default 'pending',
  tx_hash         text,
  expires_at      timestamptz not null,
  created_at      timestamptz not null default now(),
  credited_at     timestamptz
);
create index payments_api_key on payments (api_key_id, created_at desc);

-- Every webhook event handled, by the processor's event id: each is acted on once.
create table webhook_events (
  id           text primary key,
  type         text not null,
  payment_id   text,
  outcome      text not null,
  received_at  timestamptz not null default now()
);

-- Where an operator (node pubkey) wants to be paid, per coin; validated before it is stored.
create table payout_addresses (
  node_pubkey  text not null,
  coin         text not null,
  address      text not null,
  updated_at   timestamptz not null default now(),
  primary key (node_pubkey, coin)
);

create table payouts (
  id                  bigint generated always as identity primary key,
  node_pubkey         text not null,
  coin                text not null,
  address             text not null,
  amount              bigint not null check (amount > 0),
  usd_per_unit        text,
  crypto_amount       text,
  status              text not null default 'requested'
                      check (status in ('requested', 'sent', 'completed', 'failed')),
  processor_payout_id text,
  tx_hash             text,
  error               text,
  automatic           boolean not null default false,
  created_at          timestamptz not null default now(),
  finished_at         timestamptz
);
create index payouts_node on payouts (node_pubkey, created_at desc);
create index payouts_open on payouts (created_at) where status in ('requested', 'sent');

-- The platform's own accounts exist from the start.
insert into accounts (kind, owner) values
  ('platform_fees', ''), ('processor_clearing', ''), ('payouts_in_flight', '');

-- Every API key has its two consumer accounts (new keys get them when created).
insert into accounts (kind, owner)
select k.kind, a.id::text from api_keys a cross join (values ('consumer_balance'), ('consumer_holds')) k(kind)
on conflict do nothing;
