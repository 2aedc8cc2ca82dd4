-- API keys: only a sha256 of the key is stored; the key itself is shown once.
create table api_keys (
  id          bigint generated always as identity primary key,
  key_hash    text not null unique,
  key_prefix  text not null,
  label       text,
  created_at  timestamptz not null default now(),
  revoked_at  timestamptz
);

-- One row per consumer request: metering, never the prompt or the output.
create table jobs (
  id                      text primary key,
  api_key_id              bigint references api_keys (id),
  kind                    text not null check (kind in ('chat', 'embeddings')),
  model                   text not null,
  node_pubkey             text,
  stream                  boolean not null,
  status                  text not null
                          check (status in ('completed', 'failed', 'cancelled', 'timeout', 'rejected')),
  attempts                integer not null default 0,
  error_code              text,
  engine_prompt_tokens    integer,
  engine_completion_tokens integer,
  counted_prompt_tokens   integer,
  counted_completion_tokens integer,
  prompt_tokens           integer not null default 0,
  completion_tokens       integer not null default 0,
  ttft_ms                 integer,
  latency_ms              integer not null,
  created_at              timestamptz not null,
  finished_at             timestamptz not null
);
create index jobs_api_key_created on jobs (api_key_id, created_at desc);
create index jobs_node_created on jobs (node_pubkey, created_at desc);
