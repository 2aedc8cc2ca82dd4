// Jobs settled after their balance lease was released (a killed instance's journal replayed once
// another instance gave its leases up): charged from the balance, capped at what is there, once.
import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import type { Sql } from "./client.ts";
import { accountBalance, consumerBalance, consumerHolds, operatorEarnings, PLATFORM_FEES } from "./ledger.ts";
import { leaseJobRows, testSettlement } from "../testing/settlement.ts";
import { createTestKey } from "../testing/funding.ts";
import { findJobCharge, type Settlement } from "./charges.ts";
import { releaseLease, takeLease } from "./leases.ts";
import { lateLeaseId, settleJobsFully } from "./late_charges.ts";
import { reconcile } from "./reconcile.ts";

const NODE = "ab".repeat(32);

function job(jobId: string, leaseId: string, apiKeyId: bigint, hold: bigint, cost: bigint): Settlement {
  return testSettlement(jobId, cost, { lease: { id: leaseId, apiKeyId, hold }, node: NODE });
}

/** Settles as the recorder and the journal replay do: the jobs' rows with their settlements. */
function settle(sql: Sql, batch: Settlement[]) {
  return settleJobsFully(sql, batch, leaseJobRows(batch));
}

/** A key whose lease `leaseId` was taken and then released (its instance given up for dead). */
async function keyWithReleasedLease(sql: Sql, funds: bigint, leaseId: string): Promise<bigint> {
  const key = (await createTestKey(sql, funds)).id;
  await takeLease(sql, { leaseId, apiKeyId: key, instance: "dead", seq: 1, need: 1n, want: funds });
  await releaseLease(sql, leaseId);
  return key;
}

testOnEachDatabase(
  "late charges - a job of a released lease is charged from the balance, once",
  async (db) => {
    const sql = db.sql;
    const key = await keyWithReleasedLease(sql, 10_000n, "lease_gone");
    const done = await settle(sql, [job("job_late", "lease_gone", key, 1_000n, 800n)]);
    assert.deepEqual([done.settled.length, done.late.map((c) => [c.jobId, c.charged]), done.uncollected], [
      0,
      [["job_late", 800n]],
      [],
    ]);
    assert.equal(await accountBalance(sql, consumerBalance(key)), 9_200n);
    assert.equal(await accountBalance(sql, consumerHolds(key)), 0n);
    assert.equal(await accountBalance(sql, operatorEarnings(NODE)), 720n);
    assert.equal(await accountBalance(sql, PLATFORM_FEES), 80n);
    const [late] = await sql`select released_at is not null as released from balance_leases where id = ${
      lateLeaseId("job_late")
    }`;
    assert.equal(late.released, true, "its own lease is closed");
    assert.deepEqual(await reconcile(sql), []);
    // Replayed again (a segment read twice): nothing moves.
    const again = await settle(sql, [job("job_late", "lease_gone", key, 1_000n, 800n)]);
    assert.deepEqual([again.settled, again.late, again.uncollected], [[], [], []]);
    assert.equal(await accountBalance(sql, consumerBalance(key)), 9_200n);
    assert.deepEqual(await reconcile(sql), []);
  },
);

testOnEachDatabase(
  "late charges - capped at what the balance still has; nothing when it is empty",
  async (db) => {
    const sql = db.sql;
    // 1,000 back in the balance, then 700 of it leased by a live instance: 300 left.
    const short = await keyWithReleasedLease(sql, 1_000n, "lease_short");
    await takeLease(sql, {
      leaseId: "lease_live",
      apiKeyId: short,
      instance: "alive",
      seq: 1,
      need: 1n,
      want: 700n,
    });
    const capped = await settle(sql, [job("job_capped", "lease_short", short, 1_000n, 900n)]);
    assert.deepEqual(capped.late.map((c) => [c.jobId, c.reserved, c.charged]), [["job_capped", 300n, 300n]]);
    assert.equal(await accountBalance(sql, consumerBalance(short)), 0n);
    assert.deepEqual(await reconcile(sql), []);

    // Nothing left at all: the job stays uncharged, and reconcile says so.
    const empty = await settle(sql, [job("job_unpaid", "lease_short", short, 1_000n, 50n)]);
    assert.deepEqual([empty.late, empty.uncollected], [[], ["job_unpaid"]]);
    assert.equal(await findJobCharge(sql, "job_unpaid"), null);
    assert.deepEqual((await reconcile(sql)).map((d) => d.check), ["a completed job was never charged"]);
  },
);
