// The ledger's and the registry's database layer. Knows nothing of HTTP.
export { type Database, openDatabase, type OpenDatabaseOptions, type Sql } from "./client.ts";
export { migrate, type Migration, readMigrations } from "./migrate.ts";
export {
  API_KEY_PREFIX,
  type ApiKeyRow,
  createApiKey,
  findApiKeyByHash,
  hashApiKey,
  revokeApiKey,
} from "./api_keys.ts";
export {
  type ConsumerSessionRow,
  createConsumerSession,
  findConsumerSession,
  hashSessionToken,
  listConsumerSessions,
  type LiveConsumerSession,
  revokeConsumerSession,
  revokeConsumerSessions,
} from "./consumer_sessions.ts";
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
  consumerVouchers,
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
  findVoucher,
  issueVouchers,
  listVouchers,
  type NewVoucher,
  type RedeemRefusal,
  type RedeemResult,
  redeemVoucher,
  releaseExpiredVouchers,
  voucherHoldKey,
  type VoucherRedemption,
  type VoucherRow,
} from "./vouchers.ts";
export {
  findJobCharge,
  releaseStaleHolds,
  type SettledCharge,
  settleJobs,
  type Settlement,
} from "./charges.ts";
export { type FullSettlement, lateLeaseId, settleJobsFully } from "./late_charges.ts";
export {
  type LeaseTake,
  releaseLease,
  releaseLeaseIfStale,
  releaseStaleLeases,
  renewLeases,
  takeLease,
} from "./leases.ts";
export { listPayoutAddresses, type PayoutAddressRow, setPayoutAddress } from "./payout_addresses.ts";
export {
  createPayout,
  failPayout,
  findPayout,
  listPayouts,
  markPayoutCompleted,
  markPayoutSent,
  type NewPayout,
  openPayouts,
  operatorsDueAutomaticPayout,
  PayoutError,
  type PayoutErrorCode,
  type PayoutRow,
  payoutsDueCheck,
  type PayoutStatus,
  recordPayoutCheck,
} from "./payouts.ts";
export { type EarningsCoin, type EarningsDay, type EarningsSummary, earningsSummary } from "./earnings.ts";
export {
  applyPaymentEvent,
  type BalanceMovement,
  consumerStatement,
  findPayment,
  findPaymentByIdempotencyKey,
  insertPayment,
  listPayments,
  type NewPayment,
  type PaymentEvent,
  type PaymentEventOutcome,
  type PaymentRow,
} from "./payments.ts";
export { type Discrepancy, reconcile, type ReconcileOptions } from "./reconcile.ts";
export { ledgerIdentity } from "./ledger_identity.ts";
export {
  ClaimError,
  type ClaimErrorCode,
  type ClaimStatus,
  countersignClaim,
  currentClaimOfNode,
  findClaim,
  isOperator,
  listOperatorClaims,
  type OperatorClaimRow,
  operatorOfNode,
  revokeClaim,
  submitClaim,
} from "./operator_claims.ts";
export {
  createOperatorPayout,
  listOperatorPayoutAddresses,
  type NewOperatorPayout,
  type OperatorEarningsSummary,
  operatorEarningsSummary,
  type OperatorNodeEarnings,
  operatorsDueAutomaticOperatorPayout,
  payoutSources,
  setOperatorPayoutAddress,
} from "./operator_payouts.ts";
export { type CanaryFunding, ensurePlatformApiKey, fundCanaryKey } from "./canary_account.ts";
export {
  insertVerifications,
  listVerifications,
  parseVerificationCursor,
  verificationCursor,
  type VerificationPage,
  type VerificationRow,
} from "./verifications.ts";
export { allReputations, allReputationSums, nodeReputation, nodeReputationSums } from "./reputation.ts";
export {
  insertReceipts,
  listReceipts,
  type ReceiptHeads,
  receiptHeads,
  type ReceiptRow,
  receiptsForJob,
  type StoredReceipt,
} from "./receipts.ts";
export {
  type ReceiptAgainst,
  receiptedJobs,
  receiptsAgainstNode,
  type VerificationResult,
  verificationsOfNode,
} from "./receipt_history.ts";
export {
  grantedModelKeys,
  grantsOfNode,
  insertModelKey,
  modelKeyByEvent,
  type ModelKeyGrantRow,
  type ModelKeyRow,
  modelKeysOf,
  upsertModelKeyGrant,
} from "./model_keys.ts";
export { WorkerPriority, type WorkerPriorityState, workerThreadIds } from "./worker_priority.ts";
