-- Operators: a Nostr key of its own that claims nodes. A claim is the node's signed event, then the
-- operator's countersignature (docs/protocol.md §10); both events are kept as received. At most one
-- active claim per node. A node's claims and revocations only move forward in time (`claimed_at`,
-- `revoked_at_s`: the events' created_at), so a replayed old claim is refused.
create table operator_claims (
  id                bigint generated always as identity primary key,
  node_pubkey       text not null,
  operator_pubkey   text not null,
  claim_id          text not null unique,
  claimed_at        bigint not null,
  claim_event       text not null,
  countersign_id    text unique,
  countersign_event text,
  status            text not null default 'pending'
                    check (status in ('pending', 'active', 'revoked', 'superseded')),
  revoked_at_s      bigint,
  revoke_event      text,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);
create unique index operator_claims_one_active on operator_claims (node_pubkey) where status = 'active';
create index operator_claims_node on operator_claims (node_pubkey, claimed_at desc);
create index operator_claims_operator on operator_claims (operator_pubkey, status);

-- An operator's payout address per coin: it applies to all their nodes.
create table operator_payout_addresses (
  operator_pubkey text not null,
  coin            text not null,
  address         text not null,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  primary key (operator_pubkey, coin)
);

-- A payout is to a node (node_pubkey is the node) or to an operator (node_pubkey is the operator's
-- key; payout_sources says how much came from each node's earnings). `request_key` makes a request
-- idempotent: the same key returns the first payout and moves nothing more.
alter table payouts add column payee text not null default 'node' check (payee in ('node', 'operator'));
alter table payouts add column request_key text unique;
create table payout_sources (
  payout_id   bigint not null references payouts (id),
  node_pubkey text not null,
  amount      bigint not null check (amount > 0),
  primary key (payout_id, node_pubkey)
);
