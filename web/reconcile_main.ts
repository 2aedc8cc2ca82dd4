// `deno task reconcile`: checks every ledger invariant and prints each discrepancy; exits 1 when
// there is one, 0 when the ledger is consistent. With the embedded database, stop the control
// plane first (PGlite is single-process); with PostgreSQL it can run at any time.
import { migrate, openDatabase, reconcile } from "../db/mod.ts";
import { ConfigError, parseWebConfig } from "./config.ts";

async function run(): Promise<number> {
  let config;
  try {
    config = parseWebConfig(Deno.env.toObject(), Deno.args);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`reconcile: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const db = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: `${config.dataDir}/pglite` },
  );
  try {
    await migrate(db.sql);
    const found = await reconcile(db.sql, { stuckHoldMs: config.jobTimeoutMs + 120_000 });
    const [counts] = await db.sql<
      { transactions: bigint; jobs: bigint; deposits: bigint; payouts: bigint; vouchers: bigint }[]
    >`
      select (select count(*) from ledger_transactions) as transactions,
             (select count(*) from job_charges) as jobs,
             (select count(*) from payments) as deposits,
             (select count(*) from payouts) as payouts,
             (select count(*) from vouchers) as vouchers`;
    for (const d of found) console.log(`DISCREPANCY: ${d.check}: ${d.detail}`);
    console.log(
      `reconcile: ${db.description}: ${counts.transactions} ledger transactions, ${counts.jobs} job charges, ` +
        `${counts.deposits} deposits, ${counts.payouts} payouts, ${counts.vouchers} vouchers; ` +
        `${found.length} discrepancies`,
    );
    return found.length === 0 ? 0 : 1;
  } finally {
    await db.close();
  }
}

if (import.meta.main) Deno.exit(await run());
