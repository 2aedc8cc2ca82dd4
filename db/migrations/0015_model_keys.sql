-- IPIP-0028 model keys (docs/protocol.md §14): a publisher's announced key for a model artifact
-- (kind 7480), and its grants of the key's secret to nodes (kind 7481, sealed to each node). Both
-- are public: the control plane stores and serves them, and cannot open a grant.
create table model_keys (
  model_pubkey     text primary key,
  model            text not null,
  artifact_sha256  text not null,
  publisher        text not null,
  event_id         text not null unique,
  created_at       bigint not null,
  event            text not null
);
create index model_keys_model on model_keys (model, created_at);

-- One grant per model key and node: a newer grant replaces an older one.
create table model_key_grants (
  model_pubkey  text not null references model_keys (model_pubkey),
  node_pubkey   text not null,
  event_id      text not null unique,
  created_at    bigint not null,
  event         text not null,
  primary key (model_pubkey, node_pubkey)
);
create index model_key_grants_node on model_key_grants (node_pubkey);
