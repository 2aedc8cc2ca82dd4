// The ledger's own id (migration 0007): written once, never changed.
import type { Sql } from "./client.ts";

/** This ledger's id: the same for every instance and every start on the same database. */
export async function ledgerIdentity(sql: Sql): Promise<string> {
  const [row] = await sql<{ id: string }[]>`select id from ledger_identity`;
  if (!row) throw new Error("ledger_identity is empty: the migrations have not been applied");
  return row.id;
}
