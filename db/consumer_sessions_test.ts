import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { createApiKey } from "./api_keys.ts";
import {
  createConsumerSession,
  findConsumerSession,
  hashSessionToken,
  listConsumerSessions,
  revokeConsumerSession,
  revokeConsumerSessions,
} from "./consumer_sessions.ts";

testOnEachDatabase(
  "consumer sessions - a token opens its key's session until revoked or expired",
  async (db) => {
    const sql = db.sql;
    const { row: key } = await createApiKey(sql);
    const { row: other } = await createApiKey(sql);
    const a = await createConsumerSession(sql, { apiKeyId: key.id, ttlS: 600, userAgent: "A".repeat(400) });
    const b = await createConsumerSession(sql, { apiKeyId: key.id, ttlS: 600 });
    const o = await createConsumerSession(sql, { apiKeyId: other.id, ttlS: 600 });
    assert.notEqual(a.token, b.token);
    assert.equal(a.session.userAgent.length, 300, "a long user agent is cut");

    const found = await findConsumerSession(sql, a.token);
    assert.equal(found?.id, a.session.id);
    assert.equal(found?.apiKeyId, key.id);
    assert.equal(found?.keyPrefix, key.keyPrefix);
    assert.equal(await findConsumerSession(sql, a.token + "x"), null);
    assert.equal(
      await findConsumerSession(sql, hashSessionToken(a.token)),
      null,
      "the stored hash opens nothing",
    );

    // A page view a minute after the last one notes the session seen.
    await sql`update consumer_sessions set last_seen_at = now() - interval '2 minutes' where id = ${a.session.id}`;
    const seen = await findConsumerSession(sql, a.token);
    assert.ok(seen && Date.now() - seen.lastSeenAt.getTime() < 60_000);

    assert.deepEqual((await listConsumerSessions(sql, key.id)).map((s) => s.id), [
      b.session.id,
      a.session.id,
    ]);
    assert.equal(await revokeConsumerSession(sql, other.id, a.session.id), false, "not another key's");
    assert.ok(await findConsumerSession(sql, a.token));
    assert.equal(await revokeConsumerSession(sql, key.id, a.session.id), true);
    assert.equal(await findConsumerSession(sql, a.token), null);
    assert.equal(await revokeConsumerSession(sql, key.id, a.session.id), false, "once");
    assert.deepEqual((await listConsumerSessions(sql, key.id)).map((s) => s.id), [b.session.id]);

    assert.equal(await revokeConsumerSessions(sql, key.id), 1);
    assert.equal(await findConsumerSession(sql, b.token), null);
    assert.ok(await findConsumerSession(sql, o.token), "another key's session is untouched");

    await sql`update consumer_sessions set expires_at = now() - interval '1 second' where id = ${o.session.id}`;
    assert.equal(await findConsumerSession(sql, o.token), null, "expired");
    assert.deepEqual(await listConsumerSessions(sql, other.id), []);
  },
);

testOnEachDatabase(
  "consumer sessions - sessions ended over a day ago are deleted as new ones open",
  async (db) => {
    const sql = db.sql;
    const { row: key } = await createApiKey(sql);
    const old = await createConsumerSession(sql, { apiKeyId: key.id, ttlS: 600 });
    const recent = await createConsumerSession(sql, { apiKeyId: key.id, ttlS: 600 });
    await sql`update consumer_sessions set expires_at = now() - interval '25 hours' where id = ${old.session.id}`;
    await revokeConsumerSession(sql, key.id, recent.session.id);
    await createConsumerSession(sql, { apiKeyId: key.id, ttlS: 600 });
    const ids = (await sql<{ id: bigint }[]>`select id from consumer_sessions order by id`).map((r) => r.id);
    assert.ok(!ids.includes(old.session.id));
    assert.ok(ids.includes(recent.session.id), "a session ended today is kept");
    assert.equal(ids.length, 2);
  },
);
