-- The account page's sign-ins: the cookie holds a random token, stored here only as its sha256 (hex),
-- bound to the API key it was opened with. `id` names a session on the page (to sign it out) and
-- is never a credential. A session is live while not revoked and before `expires_at`.
create table consumer_sessions (
  id            bigint generated always as identity primary key,
  token_hash    text not null unique,
  api_key_id    bigint not null references api_keys (id),
  user_agent    text not null default '',
  created_at    timestamptz not null default now(),
  last_seen_at  timestamptz not null default now(),
  expires_at    timestamptz not null,
  revoked_at    timestamptz
);
create index consumer_sessions_key on consumer_sessions (api_key_id, created_at desc);
create index consumer_sessions_expiry on consumer_sessions (expires_at);
