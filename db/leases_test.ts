// Balance leases in the ledger: take within the balance, settle jobs against the lease (charge
// rows written at settlement), release the rest, sweep leases whose instance stopped renewing;
// reconcile stays clean throughout and catches a lease that does not add up.
import assert from "node:assert/strict";
import {
  openTestDatabase,
  POSTGRES_AVAILABLE,
  POSTGRES_URL,
  testOnEachDatabase,
} from "../testing/databases.ts";
import { migrate, readMigrations } from "./migrate.ts";
import { openDatabase, type Sql } from "./client.ts";
import {
  accountBalance,
  consumerBalance,
  consumerHolds,
  operatorEarnings,
  PLATFORM_FEES,
  postTransaction,
  PROCESSOR_CLEARING,
} from "./ledger.ts";
import { testJobRow } from "../testing/job_row.ts";
import { insertJobs } from "./jobs.ts";
import { leaseJobRows, testSettlement } from "../testing/settlement.ts";
import { createTestKey } from "../testing/funding.ts";
import { createApiKey } from "./api_keys.ts";
import { findJobCharge, settleJobs, type Settlement } from "./charges.ts";
import { releaseLease, releaseLeaseIfStale, releaseStaleLeases, renewLeases, takeLease } from "./leases.ts";
import { reconcile } from "./reconcile.ts";
import { reserveJob } from "../testing/reserve_job.ts";
import { sleep } from "../shared/mod.ts";

const NODE = "ef".repeat(32);

/** A key funded through a credited deposit, as in production. */
async function fundedKey(sql: Sql, amount: bigint): Promise<bigint> {
  return (await createTestKey(sql, amount)).id;
}

/**
 * A key funded by a deposit credited as before migration 0009 (no `paid_amount`), so the test also
 * sees 0009 fill it in: reconcile compares the credit with it.
 */
async function legacyFundedKey(sql: Sql, amount: bigint): Promise<bigint> {
  const { row } = await createApiKey(sql, { label: "legacy" });
  const id = `legacy-deposit-${row.id}`;
  await sql.begin(async (tx) => {
    await tx`
      insert into payments (id, api_key_id, amount, coin, payment_address, crypto_amount, qr_code, status,
                            expires_at, credited_at)
      values (${id}, ${row.id}, ${amount}, 'BTC', 'bc1q', '0', '', 'confirmed', now() + interval '1 hour', now())`;
    await postTransaction(tx, {
      idempotencyKey: `deposit:${id}`,
      kind: "deposit",
      paymentId: id,
      postings: [
        { account: PROCESSOR_CLEARING, amount: -amount },
        { account: consumerBalance(row.id), amount },
      ],
    });
  });
  return row.id;
}

/** A job reserved against a lease: `cost` prompt tokens at 1 nano-USD each. */
function leaseJob(jobId: string, leaseId: string, apiKeyId: bigint, hold: bigint, cost: bigint): Settlement {
  return testSettlement(jobId, cost, { lease: { id: leaseId, apiKeyId, hold }, node: NODE });
}

/** Settles with the jobs' rows, as the recorder does. */
function settle(sql: Sql, batch: Settlement[]) {
  return settleJobs(sql, batch, leaseJobRows(batch));
}

testOnEachDatabase("leases - take, settle against, release: the money adds up at every step", async (db) => {
  const sql = db.sql;
  const key = await fundedKey(sql, 10_000n);
  const lease = { leaseId: "lease_a", apiKeyId: key, instance: "i1" };
  assert.deepEqual(await takeLease(sql, { ...lease, seq: 1, need: 500n, want: 4_000n }), {
    ok: true,
    taken: 4_000n,
  });
  assert.equal(await accountBalance(sql, consumerBalance(key)), 6_000n);
  assert.equal(await accountBalance(sql, consumerHolds(key)), 4_000n);
  assert.deepEqual(await reconcile(sql), []);

  // Two jobs reserved 1,000 each in memory; one costs 700, one fails before any work (cost 0).
  const settled = await settle(sql, [
    leaseJob("job_l1", "lease_a", key, 1_000n, 700n),
    leaseJob("job_l2", "lease_a", key, 1_000n, 0n),
    leaseJob("job_l3", "lease_a", key, 500n, 9_999n), // capped at its share of the lease
  ]);
  assert.deepEqual(settled.map((s) => [s.jobId, s.charged]).sort(), [["job_l1", 700n], ["job_l2", 0n], [
    "job_l3",
    500n,
  ]]);
  // Settling again (a retried batch) changes nothing.
  assert.deepEqual(await settle(sql, [leaseJob("job_l1", "lease_a", key, 1_000n, 700n)]), []);
  const charge = await findJobCharge(sql, "job_l1");
  assert.deepEqual({ reserved: charge?.reserved, charged: charge?.charged, settled: charge?.settled }, {
    reserved: 1_000n,
    charged: 700n,
    settled: true,
  });
  assert.equal(await accountBalance(sql, consumerHolds(key)), 4_000n - 1_200n);
  assert.equal(await accountBalance(sql, consumerBalance(key)), 6_000n, "no refund per job: it stays leased");
  assert.equal(await accountBalance(sql, operatorEarnings(NODE)), 630n + 450n);
  assert.equal(await accountBalance(sql, PLATFORM_FEES), 70n + 50n);
  assert.deepEqual(await reconcile(sql), []);

  // A top-up of the same lease takes what the balance has when it cannot give all it wants.
  assert.deepEqual(await takeLease(sql, { ...lease, seq: 2, need: 100n, want: 100_000n }), {
    ok: true,
    taken: 6_000n,
  });
  assert.deepEqual(await takeLease(sql, { ...lease, seq: 3, need: 1n, want: 1n }), {
    ok: false,
    available: 0n,
  });
  assert.deepEqual(await reconcile(sql), []);

  assert.equal(await releaseLease(sql, "lease_a"), 2_800n + 6_000n);
  assert.equal(await releaseLease(sql, "lease_a"), 0n, "releasing twice returns nothing more");
  assert.equal(await accountBalance(sql, consumerBalance(key)), 10_000n - 1_200n);
  assert.equal(await accountBalance(sql, consumerHolds(key)), 0n);
  // A job of a released lease no longer pays (its instance was given up); nothing moves.
  assert.deepEqual(await settle(sql, [leaseJob("job_l4", "lease_a", key, 1_000n, 100n)]), []);
  await assert.rejects(takeLease(sql, { ...lease, seq: 4, need: 1n, want: 1n }), /already released/);
  // ... which reconcile reports: a completed job that was never charged.
  assert.deepEqual((await reconcile(sql)).map((d) => d.check), ["a completed job was never charged"]);
});

testOnEachDatabase(
  "leases - a batch's lease jobs share one ledger transaction: the sums per account, each charge points at it",
  async (db) => {
    const sql = db.sql;
    const [a, b] = [await fundedKey(sql, 10_000n), await fundedKey(sql, 10_000n)];
    const other = "cd".repeat(32);
    for (const [leaseId, key] of [["lease_ba", a], ["lease_bb", b]] as const) {
      await takeLease(sql, { leaseId, apiKeyId: key, instance: "i", seq: 1, need: 1n, want: 5_000n });
    }
    assert.ok((await reserveJob(sql, { jobId: "job_plain", apiKeyId: a, amount: 1_000n })).ok);
    // Two keys, two nodes, a job charged nothing, and a plain job in the same batch.
    const batch = [
      leaseJob("job_b1", "lease_ba", a, 1_000n, 300n),
      leaseJob("job_b2", "lease_ba", a, 1_000n, 500n),
      testSettlement("job_b3", 200n, { lease: { id: "lease_bb", apiKeyId: b, hold: 1_000n }, node: other }),
      leaseJob("job_b4", "lease_bb", b, 1_000n, 0n),
      { ...testSettlement("job_plain", 100n, { node: NODE }), lease: null },
    ];
    const rows = batch.map((s) =>
      testJobRow(s.jobId, {
        apiKeyId: s.lease?.apiKeyId ?? a,
        nodePubkey: s.nodePubkey,
        status: s.cost > 0n ? "completed" : "failed",
        promptTokens: s.promptTokens,
        completionTokens: 0,
      })
    );
    assert.equal((await settleJobs(sql, batch, rows)).length, 5);
    const txs = await sql<{ id: bigint; idempotency_key: string; kind: string; job_id: string | null }[]>`
      select id, idempotency_key, kind, job_id from ledger_transactions
      where kind in ('settle', 'settle_batch') order by idempotency_key`;
    assert.deepEqual(txs.map((t) => [t.idempotency_key, t.kind, t.job_id]), [
      ["settle:job_plain", "settle", "job_plain"],
      ["settle_batch:job_b1", "settle_batch", null],
    ]);
    const batchTx = txs[1].id;
    const links = await sql<{ job_id: string; settle_tx_id: bigint | null }[]>`
      select job_id, settle_tx_id from job_charges order by job_id`;
    assert.deepEqual(links.map((l) => [l.job_id, l.settle_tx_id]), [
      ["job_b1", batchTx],
      ["job_b2", batchTx],
      ["job_b3", batchTx],
      ["job_b4", null], // charged nothing: moved no money
      ["job_plain", null], // its own transaction, by its key
    ]);
    const postings = await sql<{ kind: string; owner: string; amount: bigint }[]>`
      select a.kind, a.owner, p.amount from postings p join accounts a on a.id = p.account_id
      where p.transaction_id = ${batchTx} order by a.kind, a.owner`;
    assert.deepEqual(
      postings.map((p) => [p.kind, p.owner, p.amount]),
      [
        ["consumer_holds", a.toString(), -800n],
        ["consumer_holds", b.toString(), -200n],
        ["operator_earnings", other, 180n],
        ["operator_earnings", NODE, 720n],
        ["platform_fees", "", 100n],
      ].sort((x, y) => `${x[0]} ${x[1]}`.localeCompare(`${y[0]} ${y[1]}`)),
    );
    assert.equal(await accountBalance(sql, operatorEarnings(NODE)), 720n + 90n);
    assert.deepEqual(await reconcile(sql), []);
    // Settling the batch again moves nothing and writes no transaction.
    assert.deepEqual(await settleJobs(sql, batch, rows), []);
    const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions`;
    assert.equal(n, 2 + 2 + 1 + 2, "two deposits, two leases, one reserve, two settlements");

    // Tampering is named: a charge that lost its link, one moved out of the batch's sums.
    const expectFound = async (
      check: string,
      tamper: () => Promise<unknown>,
      undo: () => Promise<unknown>,
    ) => {
      await tamper();
      assert.ok((await reconcile(sql)).some((d) => d.check === check), check);
      await undo();
      assert.deepEqual(await reconcile(sql), []);
    };
    await expectFound(
      "a job is settled without a settle transaction, or the other way round",
      () => sql`update job_charges set settle_tx_id = null where job_id = 'job_b2'`,
      () => sql`update job_charges set settle_tx_id = ${batchTx} where job_id = 'job_b2'`,
    );
    const plainTx = txs[0].id;
    await expectFound(
      "a settle transaction's postings do not match the charges it settled",
      () => sql`update job_charges set settle_tx_id = ${plainTx} where job_id = 'job_b3'`,
      () => sql`update job_charges set settle_tx_id = ${batchTx} where job_id = 'job_b3'`,
    );
    await expectFound(
      "a settle transaction's postings do not match the charges it settled",
      () =>
        sql`update postings set amount = amount - 1
            where transaction_id = ${batchTx} and amount = 720`,
      () =>
        sql`update postings set amount = amount + 1
            where transaction_id = ${batchTx} and amount = 719`,
    );
  },
);

testOnEachDatabase("leases - a lease the balance cannot cover is refused and writes nothing", async (db) => {
  const key = await fundedKey(db.sql, 300n);
  assert.deepEqual(
    await takeLease(db.sql, {
      leaseId: "lease_b",
      apiKeyId: key,
      instance: "i1",
      seq: 1,
      need: 301n,
      want: 301n,
    }),
    { ok: false, available: 300n },
  );
  const [{ n }] = await db.sql<{ n: number }[]>`select count(*)::int as n from balance_leases`;
  assert.equal(n, 0);
  assert.equal(await accountBalance(db.sql, consumerBalance(key)), 300n);
});

testOnEachDatabase(
  "leases - the sweep returns the leases of an instance that stopped renewing",
  async (db) => {
    const sql = db.sql;
    const key = await fundedKey(sql, 5_000n);
    await takeLease(sql, {
      leaseId: "lease_dead",
      apiKeyId: key,
      instance: "dead",
      seq: 1,
      need: 1n,
      want: 2_000n,
    });
    await takeLease(sql, {
      leaseId: "lease_live",
      apiKeyId: key,
      instance: "live",
      seq: 1,
      need: 1n,
      want: 1_000n,
    });
    await settle(sql, [leaseJob("job_d1", "lease_dead", key, 500n, 300n)]);
    await sql`update balance_leases set renewed_at = now() - interval '1 hour'`;
    assert.equal(await renewLeases(sql, "live"), 1);
    const stuck = await reconcile(sql, { stuckHoldMs: 60_000 });
    assert.deepEqual(stuck.map((d) => d.check), [
      "a balance lease has not been renewed for longer than any job may run",
    ]);

    assert.equal(await releaseStaleLeases(sql, 60_000), 1);
    assert.equal(await accountBalance(sql, consumerHolds(key)), 1_000n, "only the live lease still holds");
    assert.equal(await accountBalance(sql, consumerBalance(key)), 5_000n - 300n - 1_000n);
    assert.deepEqual(await reconcile(sql, { stuckHoldMs: 60_000 }), []);
  },
);

testOnEachDatabase("leases - reconcile finds a lease whose held amount was tampered with", async (db) => {
  const key = await fundedKey(db.sql, 5_000n);
  await takeLease(db.sql, {
    leaseId: "lease_t",
    apiKeyId: key,
    instance: "i",
    seq: 1,
    need: 1n,
    want: 1_000n,
  });
  await db.sql`update balance_leases set held = held - 1 where id = 'lease_t'`;
  const found = (await reconcile(db.sql)).map((d) => d.check);
  assert.ok(
    found.includes("a lease holds other than its top-ups minus its releases and the charges of its jobs"),
  );
  assert.ok(
    found.includes("a consumer's holds differ from the holds of their unsettled jobs and open leases"),
  );
});

testOnEachDatabase("leases - concurrent top-ups of one key never overdraw", async (db) => {
  const key = await fundedKey(db.sql, 1_000n);
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) =>
        takeLease(db.sql, {
          leaseId: `lease_c${i}`,
          apiKeyId: key,
          instance: "i",
          seq: 1,
          need: 100n,
          want: 150n,
        }),
    ),
  );
  const taken = results.reduce((s, r) => s + (r.ok ? r.taken : 0n), 0n);
  assert.equal(taken, 1_000n, "the whole balance and no more");
  assert.equal(await accountBalance(db.sql, consumerBalance(key)), 0n);
  assert.deepEqual(await reconcile(db.sql), []);
});

testOnEachDatabase(
  "leases - the sweep re-checks under the lock: a lease renewed after it was picked stays",
  async (db) => {
    const sql = db.sql;
    const key = await fundedKey(sql, 5_000n);
    await takeLease(sql, {
      leaseId: "lease_r",
      apiKeyId: key,
      instance: "slow",
      seq: 1,
      need: 1n,
      want: 1_000n,
    });
    await sql`update balance_leases set renewed_at = now() - interval '1 hour'`;
    // The sweep's select saw it stale; then its instance renewed it before the release ran.
    assert.equal(await renewLeases(sql, "slow"), 1);
    assert.equal(await releaseLeaseIfStale(sql, "lease_r", 60_000), null);
    assert.equal(await accountBalance(sql, consumerHolds(key)), 1_000n, "still held for its instance");
    await sql`update balance_leases set renewed_at = now() - interval '1 hour'`;
    assert.equal(await releaseLeaseIfStale(sql, "lease_r", 60_000), 1_000n);
    assert.equal(await accountBalance(sql, consumerBalance(key)), 5_000n);
    assert.deepEqual(await reconcile(sql), []);
  },
);

testOnEachDatabase(
  "leases - a release and a settlement drawing on the lease, at once: never an error, the money adds up",
  async (db) => {
    const sql = db.sql;
    // Many times over (on PostgreSQL's pool they truly race; a settlement that read the lease as
    // open before a release committed used to take the holds below zero and fail its batch).
    let settledFirst = 0;
    for (let i = 0; i < 25; i++) {
      const key = await fundedKey(sql, 5_000n);
      const leaseId = `lease_s${i}`;
      await takeLease(sql, { leaseId, apiKeyId: key, instance: "i", seq: 1, need: 1n, want: 2_000n });
      const [settled, released] = await Promise.all([
        settle(sql, [leaseJob(`job_s${i}`, leaseId, key, 1_000n, 400n)]),
        releaseLease(sql, leaseId),
      ]);
      const charged = settled.reduce((t, s) => t + s.charged, 0n);
      if (charged > 0n) settledFirst++;
      assert.equal(released + charged, 2_000n, `released ${released}, charged ${charged}`);
      assert.equal(await accountBalance(sql, consumerHolds(key)), 0n);
      assert.equal(await accountBalance(sql, consumerBalance(key)), 5_000n - charged);
    }
    // Whichever committed first: settled then released (clean), or released then the job went
    // unbilled (its lease was given up), which reconcile names.
    const found = (await reconcile(sql)).filter((d) => d.check !== "a completed job was never charged");
    assert.deepEqual(found, []);
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from jobs j where not exists (select 1 from job_charges c where c.job_id = j.id)`;
    assert.equal(n, 25 - settledFirst, "every job not charged is one whose lease was released first");
  },
);

for (const kind of ["pglite", "postgres"] as const) {
  Deno.test({
    name:
      `leases - a ledger from before batch settlement is linked by the migration and still reconciles [${kind}]`,
    ignore: kind === "postgres" && !POSTGRES_AVAILABLE,
    async fn() {
      const schema = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const db = kind === "postgres"
        ? await openDatabase({ url: POSTGRES_URL, schema, max: 2 })
        : await openDatabase({});
      try {
        const sql = db.sql;
        const all = await readMigrations();
        await migrate(sql, all.filter((m) => m.version < "0008"));
        const key = await legacyFundedKey(sql, 5_000n);
        await takeLease(sql, {
          leaseId: "lease_u",
          apiKeyId: key,
          instance: "i",
          seq: 1,
          need: 1n,
          want: 2_000n,
        });
        // A lease job settled as before 0008: a charge row and a 'settle:<job>' transaction of its own.
        let legacyTx = 0n;
        await sql.begin(async (tx) => {
          await insertJobs(tx, [
            testJobRow("job_u1", { apiKeyId: key, nodePubkey: NODE, promptTokens: 300 }),
          ]);
          await tx`
            insert into job_charges (job_id, api_key_id, reserved, lease_id, node_pubkey, prompt_tokens,
              completion_tokens, prompt_price_per_1k, completion_price_per_1k, fee_bps, charged, platform_fee,
              operator_share, settled_at)
            values ('job_u1', ${key}, 1000, 'lease_u', ${NODE}, 300, 0, 1000, 0, 1000, 300, 30, 270, now())`;
          await tx`update balance_leases set held = held - 300 where id = 'lease_u'`;
          legacyTx = (await postTransaction(tx, {
            idempotencyKey: "settle:job_u1",
            kind: "settle",
            jobId: "job_u1",
            postings: [
              { account: consumerHolds(key), amount: -300n },
              { account: operatorEarnings(NODE), amount: 270n },
              { account: PLATFORM_FEES, amount: 30n },
            ],
          })).transactionId;
        });

        assert.deepEqual(await migrate(sql), all.filter((m) => m.version >= "0008").map((m) => m.version));
        const [legacy] = await sql<{ paid_amount: bigint }[]>`select paid_amount from payments`;
        assert.equal(legacy.paid_amount, 5_000n, "0009 records what an old credit was paid");
        assert.equal((await findJobCharge(sql, "job_u1"))?.charged, 300n);
        const [link] = await sql<{ settle_tx_id: bigint }[]>`
          select settle_tx_id from job_charges where job_id = 'job_u1'`;
        assert.equal(link.settle_tx_id, legacyTx);
        assert.deepEqual(await reconcile(sql), []);
        // New settlements of the same lease go to a batch transaction; both kinds reconcile.
        await settle(sql, [leaseJob("job_u2", "lease_u", key, 1_000n, 400n)]);
        assert.equal(await accountBalance(sql, operatorEarnings(NODE)), 270n + 360n);
        assert.deepEqual(await reconcile(sql), []);
        assert.equal(await releaseLease(sql, "lease_u"), 2_000n - 300n - 400n);
        assert.deepEqual(await reconcile(sql), []);
      } finally {
        if (kind === "postgres") await db.sql.unsafe(`drop schema if exists "${schema}" cascade`);
        await db.close();
      }
    },
  });
}

Deno.test({
  name: "leases - a renewal and a settlement drawing on two of its leases lock them in one order [postgres]",
  ignore: !POSTGRES_AVAILABLE,
  async fn() {
    const db = await openTestDatabase("postgres");
    let free = () => {};
    const gate = new Promise<void>((r) => (free = r));
    let holder: Promise<unknown> = Promise.resolve();
    try {
      const sql = db.sql;
      const key = await fundedKey(sql, 10_000n);
      for (const leaseId of ["lease_o1", "lease_o2"]) {
        await takeLease(sql, { leaseId, apiKeyId: key, instance: "i", seq: 1, need: 1n, want: 2_000n });
      }
      // lease_o1's row now comes after lease_o2's, on the heap and by renewal time.
      await sql`update balance_leases set renewed_at = now() + interval '1 second' where id = 'lease_o1'`;
      // (The statements' text is cut at 1 kB in pg_stat_activity: counted by what they wait on.)
      const waiting = async (n: number) => {
        for (let i = 0; i < 500; i++) {
          const [{ w }] = await sql<{ w: number }[]>`
            select count(*)::int as w from pg_stat_activity
            where wait_event_type = 'Lock' and datname = current_database() and pid <> pg_backend_pid()`;
          if (w >= n) return;
          await sleep(10);
        }
        throw new Error(`${n} statements never waited on a lock`);
      };
      // A third transaction holds lease_o1; the settlement queues for it first, then the renewal.
      let held = () => {};
      const locked = new Promise<void>((r) => (held = r));
      holder = sql.begin(async (tx) => {
        await tx`select 1 from balance_leases where id = 'lease_o1' for update`;
        held();
        await gate;
      });
      await locked;
      const settling = settle(sql, [
        leaseJob("job_o1", "lease_o1", key, 1_000n, 100n),
        leaseJob("job_o2", "lease_o2", key, 1_000n, 100n),
      ]);
      await waiting(1);
      const renewing = renewLeases(sql, "i");
      await waiting(2);
      free();
      await holder;
      // Had the renewal locked lease_o2 first, the settlement would now wait for it while the
      // renewal waits for lease_o1: a deadlock, and one of them rolled back with an error.
      const [settled, renewed] = await Promise.all([settling, renewing]);
      assert.equal(settled.length, 2);
      assert.equal(renewed, 2);
      assert.deepEqual(await reconcile(sql), []);
    } finally {
      free();
      await holder.catch(() => {});
      await db.drop();
    }
  },
});
