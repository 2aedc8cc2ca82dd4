import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { migrate } from "./migrate.ts";
import { createApiKey, findApiKeyByHash, hashApiKey } from "./api_keys.ts";
import { countJobs, findJob, insertJobs, type JobRow } from "./jobs.ts";

testOnEachDatabase("migrations - re-running applies nothing new", async (db) => {
  assert.deepEqual(await migrate(db.sql), []);
  const rows = await db.sql`select version from schema_migrations`;
  assert.ok(rows.length >= 1);
});

testOnEachDatabase("api keys - a key is found by its hash and never stored in clear", async (db) => {
  const { key, row } = await createApiKey(db.sql, { label: "test" });
  assert.match(key, /^inf_[1-9A-HJ-NP-Za-km-z]{40,}$/);
  const found = await findApiKeyByHash(db.sql, hashApiKey(key));
  assert.equal(found?.id, row.id);
  assert.equal(await findApiKeyByHash(db.sql, hashApiKey(key + "x")), null);
  const stored = await db.sql`select * from api_keys where key_hash = ${key} or key_prefix = ${key}`;
  assert.equal(stored.length, 0);
});

function job(id: string, status: JobRow["status"] = "completed"): JobRow {
  const now = new Date();
  return {
    id,
    apiKeyId: null,
    kind: "chat",
    model: "m",
    nodePubkey: "ab".repeat(32),
    stream: true,
    status,
    attempts: 1,
    errorCode: null,
    enginePromptTokens: 5,
    engineCompletionTokens: 7,
    countedPromptTokens: 6,
    countedCompletionTokens: 7,
    promptTokens: 5,
    completionTokens: 7,
    ttftMs: 3,
    latencyMs: 9,
    createdAt: now,
    finishedAt: now,
  };
}

testOnEachDatabase("jobs - a batch is recorded once; the first final state wins", async (db) => {
  assert.equal(await insertJobs(db.sql, [job("a"), job("b")]), 2);
  assert.equal(await insertJobs(db.sql, [job("a", "timeout"), job("c", "failed")]), 1);
  assert.equal(await countJobs(db.sql), 3);
  assert.equal((await findJob(db.sql, "a"))?.status, "completed");
  assert.equal((await findJob(db.sql, "c"))?.status, "failed");
  assert.equal((await findJob(db.sql, "a"))?.completionTokens, 7);
});

testOnEachDatabase("jobs - an unknown status is refused by the schema", async (db) => {
  await assert.rejects(insertJobs(db.sql, [job("x", "weird" as JobRow["status"])]));
  assert.equal(await countJobs(db.sql), 0);
});
