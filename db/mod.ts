// The ledger's and the registry's database layer. Knows nothing of HTTP.
export { type Database, openDatabase, type OpenDatabaseOptions, type Sql } from "./client.ts";
export { migrate, type Migration, readMigrations } from "./migrate.ts";
export { API_KEY_PREFIX, type ApiKeyRow, createApiKey, findApiKeyByHash, hashApiKey } from "./api_keys.ts";
export {
  countJobs,
  findJob,
  insertJobs,
  type JobCursor,
  type JobListItem,
  type JobRow,
  type JobStatus,
} from "./jobs.ts";
export { listUsage, recentJobStats, usageExceeds, type UsageFilter, type UsageRow } from "./usage.ts";
export {
  listNodeJobs,
  type NodeJobRow,
  type NodeJobsPage,
  type NodeJobStats,
  nodeJobStats,
} from "./operator.ts";
export {
  accountBalance,
  type AccountKind,
  type AccountRef,
  consumerBalance,
  consumerHolds,
  type LedgerEntry,
  LedgerError,
  type LedgerErrorCode,
  type LedgerTxKind,
  operatorEarnings,
  PAYOUTS_IN_FLIGHT,
  PLATFORM_FEES,
  postEntry,
  type Posting,
  postTransaction,
  PROCESSOR_CLEARING,
  type Tx,
} from "./ledger.ts";
export {
  findJobCharge,
  releaseStaleHolds,
  type SettledCharge,
  settleJobs,
  type Settlement,
} from "./charges.ts";
export {
  type LeaseTake,
  releaseLease,
  releaseLeaseIfStale,
  releaseStaleLeases,
  renewLeases,
  takeLease,
} from "./leases.ts";
export {
  createPayout,
  type EarningsCoin,
  type EarningsDay,
  type EarningsSummary,
  earningsSummary,
  failPayout,
  findPayout,
  listPayoutAddresses,
  listPayouts,
  markPayoutCompleted,
  markPayoutSent,
  type NewPayout,
  openPayouts,
  operatorsDueAutomaticPayout,
  type PayoutAddressRow,
  PayoutError,
  type PayoutErrorCode,
  type PayoutRow,
  type PayoutStatus,
  setPayoutAddress,
} from "./payouts.ts";
export {
  applyPaymentEvent,
  type BalanceMovement,
  consumerStatement,
  findPayment,
  insertPayment,
  listPayments,
  type PaymentEvent,
  type PaymentEventOutcome,
  type PaymentRow,
} from "./payments.ts";
export { type Discrepancy, reconcile, type ReconcileOptions } from "./reconcile.ts";
export { ledgerIdentity } from "./ledger_identity.ts";
