// The platform's canary account: an API key marked as the platform's (migration 0014), whose
// balance is moved from the platform's fees by 'canary_funding' transactions, so canary jobs
// settle like any consumer job (the operator paid at the normal price) without a consumer paying.
import { hashApiKey } from "./api_keys.ts";
import type { Sql } from "./client.ts";
import { accountBalance, consumerBalance, LedgerError, PLATFORM_FEES, postTransaction } from "./ledger.ts";

/**
 * The id of the platform's canary key, stored under `key`'s hash: created (with its two accounts)
 * on first use, its hash replaced when the platform's key changed.
 */
export async function ensurePlatformApiKey(sql: Sql, key: string): Promise<bigint> {
  const keyHash = hashApiKey(key);
  const [row] = await sql<{ id: bigint }[]>`
    with existing as (
      update api_keys set key_hash = ${keyHash}, revoked_at = null where platform returning id
    ), created as (
      insert into api_keys (key_hash, key_prefix, label, platform)
      select ${keyHash}, ${key.slice(0, 10)}, 'platform canaries', true
      where not exists (select 1 from existing)
      returning id
    ), accounts_made as (
      insert into accounts (kind, owner)
      select kind, c.id::text from created c, (values ('consumer_balance'), ('consumer_holds')) v(kind)
    )
    select id from existing union all select id from created`;
  return row.id;
}

/** What one funding round did. */
export interface CanaryFunding {
  /** Moved from the platform's fees to the canary key now (0: none needed, or none available). */
  funded: bigint;
  /** The canary key's balance afterwards. */
  balance: bigint;
  /** The balance is under `below` and the platform's fees cannot top it up: canaries pause. */
  starved: boolean;
}

/**
 * Tops the canary key's balance up to `target` when it is under `below`, from the platform's
 * fees and never beyond them (no account goes negative), in one ledger transaction.
 */
export function fundCanaryKey(
  sql: Sql,
  opts: { apiKeyId: bigint; below: bigint; target: bigint },
): Promise<CanaryFunding> {
  return sql.begin(async (tx) => {
    const account = consumerBalance(opts.apiKeyId);
    // Lock the fee account first: two instances funding at once move its money once.
    const [fees] = await tx<{ balance: bigint }[]>`
      select balance from accounts where kind = 'platform_fees' and owner = '' for update`;
    const balance = await accountBalance(tx, account);
    if (balance >= opts.below) return { funded: 0n, balance, starved: false };
    const want = opts.target - balance;
    const amount = want < fees.balance ? want : fees.balance;
    if (amount <= 0n) return { funded: 0n, balance, starved: true };
    try {
      await postTransaction(tx, {
        idempotencyKey: `canary_funding:${crypto.randomUUID()}`,
        kind: "canary_funding",
        postings: [{ account: PLATFORM_FEES, amount: -amount }, { account, amount }],
      });
    } catch (err) {
      if (err instanceof LedgerError && err.code === "insufficient_funds") {
        return { funded: 0n, balance, starved: true };
      }
      throw err;
    }
    const after = balance + amount;
    return { funded: amount, balance: after, starved: after < opts.below };
  });
}
