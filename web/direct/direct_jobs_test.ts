// Direct jobs with more than one receipt (docs/protocol.md §14, Settlement): a candidate whose
// answer the consumer refused (sealed with another key, or too late) signed a receipt too; only
// the node the consumer's ack names is billed, and the ledger shows it.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { reconcile } from "../../db/mod.ts";
import { testOnEachDatabase } from "../../testing/databases.ts";
import { type DirectPlane, type FakeDirectNode, openDirectPlane } from "../../testing/direct_plane.ts";
import { within } from "../../testing/within.ts";

const HASH_A = "aa".repeat(32);
const HASH_B = "bb".repeat(32);

async function route(
  p: DirectPlane,
  consumerKey: Uint8Array,
): Promise<{ jobId: string; nodes: FakeDirectNode[] }> {
  const res = await p.route({
    model: "m",
    prompt_tokens: 100,
    max_tokens: 200,
    consumer: getPublicKey(consumerKey),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const a = await res.json();
  return {
    jobId: a.job_id,
    nodes: a.candidates.map((c: { node: string }) => p.nodes.find((n) => n.pubkey === c.node)!),
  };
}

/** The job's row and charge once settled (bounded wait). */
async function settled(p: DirectPlane, jobId: string) {
  return await within(
    (async () => {
      for (let i = 0; i < 400; i++) {
        await p.t.cp.recorder.flush();
        const [row] = await p.t.cp.db.sql`
          select j.status, j.error_code, j.node_pubkey, j.prompt_tokens, j.completion_tokens,
            c.charged::text as charged
          from jobs j left join job_charges c on c.job_id = j.id where j.id = ${jobId}`;
        if (row && row.charged !== null) return row;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error("never settled");
    })(),
    8000,
    `job ${jobId} settled`,
  );
}

/** The platform receipt of a job on a node: its content and reputation flags. */
async function platformReceipt(p: DirectPlane, jobId: string, node: string) {
  assert.ok(await within(p.t.cp.receipts.whenReceipted(jobId, node), 5000, "the platform receipt"));
  const [r] = await p.t.cp.db.sql<
    { event: string; metering_disagrees: boolean; artifact_mismatch: boolean; signed: boolean }[]
  >`
    select event, metering_disagrees, artifact_mismatch, signed from receipts
    where job_id = ${jobId} and node_pubkey = ${node}`;
  return { ...r, content: JSON.parse(JSON.parse(r.event).content) };
}

/** What each node earned (operator_earnings), as text; absent: nothing. */
async function earnings(p: DirectPlane, nodes: string[]): Promise<Record<string, string>> {
  const rows = await p.t.cp.db.sql<{ owner: string; balance: string }[]>`
    select owner, balance::text as balance from accounts
    where kind = 'operator_earnings' and owner in ${p.t.cp.db.sql(nodes)}`;
  return Object.fromEntries(rows.map((r) => [r.owner, r.balance]));
}

testOnEachDatabase(
  "direct jobs - only the node the ack names is billed; a refused candidate's receipt bills nothing",
  async (db) => {
    const p = await openDirectPlane(db, { count: 2, config: { directAckWaitMs: 60_000 } });
    try {
      const consumerKey = generateSecretKey();
      const { jobId, nodes: [a, b] } = await route(p, consumerKey);
      // a ran the job but its answer did not open (another key): the consumer went on to b.
      assert.ok((await p.nodeReceipt(a, jobId, { prompt_tokens: 100, completion_tokens: 150 }, HASH_A)).ok);
      assert.ok((await p.nodeReceipt(b, jobId, { prompt_tokens: 100, completion_tokens: 40 }, HASH_B)).ok);
      const ack = await p.ack(jobId, consumerKey, {
        node: b.pubkey,
        prompt_tokens: 100,
        completion_tokens: 40,
        artifact_hash: HASH_B,
      });
      assert.equal(ack.status, 200);
      await ack.body?.cancel();
      const row = await settled(p, jobId);
      assert.deepEqual(
        [row.status, row.error_code, row.node_pubkey, row.charged],
        ["completed", null, b.pubkey, "140"],
      );
      const refused = await platformReceipt(p, jobId, a.pubkey);
      assert.deepEqual(
        [refused.content.outcome, refused.content.error_code, refused.content.amount, refused.signed],
        ["failure", "answer_refused", "0", true],
      );
      assert.deepEqual(refused.content.usage.billed, { prompt_tokens: 0, completion_tokens: 0 });
      const served = await platformReceipt(p, jobId, b.pubkey);
      assert.equal(served.content.outcome, "success");
      // The ledger: b earned its share (140 less the 10 % fee), a nothing.
      assert.deepEqual(await earnings(p, [a.pubkey, b.pubkey]), { [b.pubkey]: "126" });
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await p.close();
    }
  },
);

testOnEachDatabase(
  "direct jobs - an ack that opened nothing bills nothing; without an ack the last receipt is billed",
  async (db) => {
    // Long enough a wait that both receipts (and the ack) are in before it ends, however slow the machine.
    const p = await openDirectPlane(db, { count: 2, config: { directAckWaitMs: 2_000 } });
    try {
      const consumerKey = generateSecretKey();
      const first = await route(p, consumerKey);
      const [a] = first.nodes;
      // a's receipt claims a success; the consumer's ack names a but opened nothing of its answer.
      assert.ok(
        (await p.nodeReceipt(a, first.jobId, { prompt_tokens: 100, completion_tokens: 150 }, HASH_A)).ok,
      );
      const ack = await p.ack(first.jobId, consumerKey, {
        node: a.pubkey,
        prompt_tokens: 100,
        completion_tokens: 0,
        artifact_hash: null,
      });
      assert.equal(ack.status, 200);
      await ack.body?.cancel();
      const row = await settled(p, first.jobId);
      assert.deepEqual(
        [row.status, row.error_code, row.node_pubkey, row.charged],
        ["failed", "answer_refused", a.pubkey, "0"],
      );
      const flags = await platformReceipt(p, first.jobId, a.pubkey);
      assert.equal(flags.content.outcome, "failure");
      assert.equal(flags.artifact_mismatch, false, "a failure is bad already; flags are for successes");

      // No ack at all: of two receipts, the later candidate's is billed (the consumer only moves on
      // before a first token), within the ticket's bounds, flagged; the earlier one bills nothing.
      assert.deepEqual(await earnings(p, [a.pubkey]), {}, "a earned nothing");
      const second = await route(p, consumerKey);
      const [c, d] = second.nodes;
      const before = await earnings(p, [c.pubkey, d.pubkey]);
      assert.ok(
        (await p.nodeReceipt(c, second.jobId, { prompt_tokens: 100, completion_tokens: 10 }, HASH_A)).ok,
      );
      assert.ok(
        (await p.nodeReceipt(d, second.jobId, { prompt_tokens: 100, completion_tokens: 900 }, HASH_B)).ok,
      );
      const row2 = await settled(p, second.jobId);
      assert.deepEqual(
        [row2.status, row2.error_code, row2.node_pubkey, row2.completion_tokens, row2.charged],
        ["completed", "no_consumer_ack", d.pubkey, 200, "300"],
      );
      assert.equal((await platformReceipt(p, second.jobId, c.pubkey)).content.error_code, "answer_refused");
      const after = await earnings(p, [c.pubkey, d.pubkey]);
      assert.equal(after[c.pubkey], before[c.pubkey], "c earned nothing");
      assert.equal(BigInt(after[d.pubkey]) - BigInt(before[d.pubkey] ?? 0), 270n, "d: 300 less the fee");
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await p.close();
    }
  },
);

testOnEachDatabase(
  "direct jobs - a receipt waiting for an ack is settled before the job timeout, not reaped unbilled",
  async (db) => {
    // The ack wait (60 s) outlasts the job timeout (2.5 s): the wait ends a second before it.
    const p = await openDirectPlane(db, { config: { directAckWaitMs: 60_000, jobTimeoutMs: 2_500 } });
    try {
      const { jobId, nodes: [a] } = await route(p, generateSecretKey());
      assert.ok((await p.nodeReceipt(a, jobId, { prompt_tokens: 100, completion_tokens: 20 }, HASH_A)).ok);
      const row = await settled(p, jobId);
      assert.deepEqual(
        [row.status, row.error_code, row.node_pubkey, row.charged],
        ["completed", "no_consumer_ack", a.pubkey, "120"],
      );
      assert.deepEqual(await reconcile(db.sql), []);
    } finally {
      await p.close();
    }
  },
);
