-- Job receipts (docs/protocol.md §11): one row per job per node that took it, holding the
-- control plane's signed receipt (kind 7476) and, when the node signed its own (kind 7475), the
-- node's event. Hashes only: never a prompt or an output. Append-only: rows are never changed or
-- deleted, and each node's two chains (platform `seq`, node `node_seq`) have one receipt per place
-- (event ids are hashes of distinct content: no index of their own, which would double the insert).
create table receipts (
  receipt_id        text primary key,
  job_id            text not null,
  node_pubkey       text not null,
  seq               bigint not null,
  event_id          text not null,
  created_at        bigint not null,
  outcome           text not null check (outcome in ('success', 'failure', 'timeout', 'cancelled')),
  cancelled_by      text check (cancelled_by in ('consumer', 'node', 'platform')),
  signed            boolean not null,
  metering_disagrees boolean not null,
  artifact_mismatch boolean not null,
  ttft_ms           integer,
  duration_ms       integer not null,
  completion_tokens integer not null,
  event             text not null,
  node_seq          bigint,
  node_event_id     text,
  node_event        text,
  unique (node_pubkey, seq),
  unique (node_pubkey, node_seq)
);
create index receipts_job on receipts (job_id);
create index receipts_node_time on receipts (node_pubkey, created_at);

-- Shared by every append-only table (receipts, verifications): a change or deletion is refused.
create function append_only() returns trigger language plpgsql as $$
begin
  raise exception '% are append-only', tg_table_name using errcode = 'insufficient_privilege';
end
$$;
create trigger receipts_append_only before update or delete on receipts
  for each row execute function append_only();
