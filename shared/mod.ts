// The protocol both programs speak. `cli/` and `web/` import it through this file; it imports
// neither of them. Test doubles live beside the product, in `testing/`.
/** `isRecord(x)`: a plain JSON object (not null, not an array). */
export { isRecord } from "./json/is_record.ts";
/** `sleep(ms, { signal })`: a timer as a promise; rejects when the signal aborts. */
export { sleep } from "./async/sleep.ts";
export {
  createLogger,
  isLogLevel,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  type LogLevel,
} from "./log/logger.ts";
export {
  HEARTBEAT_SCHEMA,
  type HeartbeatBody,
  type JobKind,
  MAX_RECEIPTS_PER_FRAME,
  type NodeFrame,
  parseHeartbeat,
  parseNodeFrame,
  parseServerFrame,
  type ReceiptAnswer,
  type ReceiptHead,
  type ServerFrame,
} from "./protocol/messages.ts";
export {
  type ChatRequest,
  type EmbeddingsRequest,
  parseChatRequest,
  parseEmbeddingsRequest,
  parseProviderPrefs,
  type ProviderPrefs,
  type ProviderSort,
  RequestError,
  requestParameters,
} from "./openai/requests.ts";
export { completionFieldsProblem, completionLimit, withCompletionLimit } from "./openai/completion_limit.ts";
export {
  addGeneratedBesideContent,
  chatPromptTexts,
  contentText,
  generatedBesideContent,
  type TokenTexts,
  TOOL_CALL_TOKENS,
} from "./openai/token_texts.ts";
export {
  CHAT_REQUEST_SCHEMA,
  EMBEDDINGS_REQUEST_SCHEMA,
  PROVIDER_PREFS_SCHEMA,
} from "./openai/request_schemas.ts";
export {
  compileSchema,
  type JsonSchema,
  type JsonType,
  publishedSchema,
  type SchemaIssue,
  type Validator,
} from "./json_schema/validator.ts";
export {
  errorTypeForStatus,
  isOpenAiErrorBody,
  type OpenAiErrorBody,
  openAiErrorBody,
  type OpenAiErrorType,
} from "./openai/errors.ts";
export { readUsage, type Usage } from "./openai/usage.ts";
export {
  type EventVerifier,
  hasValidSignature,
  NOSTR_EVENT_SCHEMA,
  type NostrEvent,
  nowSeconds,
  parseEvent,
  tagValue,
} from "./nostr/event.ts";
export {
  createNip98Header,
  NIP98_KIND,
  NIP98_TOLERANCE_SEC,
  type Nip98Request,
  type Nip98Result,
  payloadHash,
  type VerifiedNip98Event,
  verifyNip98,
} from "./nostr/nip98.ts";
export {
  createAuthEvent,
  createChallenge,
  NIP42_KIND,
  type SocketAuthResult,
  verifyAuthEvent,
} from "./nostr/nip42.ts";
export {
  createNodeRecord,
  NODE_PROTOCOL_VERSION,
  NODE_RECORD_KIND,
  NODE_RECORD_TAG,
  type NodeAdvert,
  type NodeGpu,
  type NodeModel,
  type NodeRecordResult,
  type VerifiedNodeRecord,
  verifyNodeRecord,
} from "./nostr/node_record.ts";
export {
  CLAIM_TAG_VALUE,
  CLAIM_TOLERANCE_SEC,
  type ClaimCheck,
  createCountersign,
  createOperatorClaim,
  createRevocation,
  DELETION_KIND,
  OPERATOR_CLAIM_KIND,
  OPERATOR_COUNTERSIGN_KIND,
  parseOperatorKey,
  type VerifiedCountersign,
  type VerifiedOperatorClaim,
  type VerifiedRevocation,
  verifyCountersign,
  verifyOperatorClaim,
  verifyRevocation,
} from "./nostr/operator_claim.ts";
export {
  type CostInput,
  DEFAULT_FEE_BPS,
  DEFAULT_PRICES,
  formatUsd,
  jobCost,
  NANO_USD_PER_USD,
  parseDecimal,
  PRICE_BOUNDS,
  type PriceBounds,
  priceOutOfBounds,
  splitFee,
} from "./pricing/price.ts";
export {
  isVramTier,
  tierAtLeast,
  VRAM_TIERS,
  type VramTier,
  vramTierMinMb,
  vramTierOf,
} from "./hardware/tiers.ts";
export { isQuantization, type Quantization, QUANTIZATIONS } from "./hardware/quantization.ts";
export { type Chain, chainOf, type Coin, COIN_CHAINS, isCoin, SUPPORTED_COINS } from "./payments/coins.ts";
export { type AddressCheck, validatePayoutAddress } from "./payments/addresses.ts";
export { canonicalJson, type CanonicalValue, isCanonicalJson } from "./receipts/canonical_json.ts";
export {
  artifactHash,
  buyerDidOf,
  type CancelledBy,
  categoryOf,
  createNodeReceipt,
  createPlatformReceipt,
  embeddingsArtifactHash,
  type EventFinalizer,
  NO_CONSUMER_ACK,
  NODE_RECEIPT_KIND,
  type NodeReceiptContent,
  nostrDid,
  PLATFORM_RECEIPT_KIND,
  type PlatformReceiptContent,
  RECEIPT_TAG,
  type ReceiptCategory,
  type ReceiptCheck,
  receiptIdOf,
  type ReceiptOutcome,
  type ReceiptTokens,
  type ReceiptVerifyOptions,
  sha256Hex,
  type UnsignedEvent,
  unsignedPlatformReceipt,
  type VerifiedNodeReceipt,
  type VerifiedPlatformReceipt,
  verifyNodeReceipt,
  verifyPlatformReceipt,
} from "./receipts/receipt.ts";
export { type ChainLink, type ChainProblem, checkChain } from "./receipts/chain.ts";
export {
  createVerification,
  platformDidOf,
  VERIFICATION_KIND,
  type VerificationCheck,
  type VerificationContent,
  type VerifiedVerification,
  verifyVerification,
} from "./receipts/verification.ts";
export {
  addReputationSums,
  componentsToWire,
  computeReputation,
  decayReputationSums,
  DEFAULT_REPUTATION_HALF_LIFE_S,
  emptyReputationSums,
  type Reputation,
  REPUTATION_FORMULA,
  type ReputationComponents,
  reputationFromSums,
  type ReputationReceipt,
  type ReputationSums,
  type ReputationTime,
  type ReputationVerification,
  reputationWeight,
  scoresAgree,
  sumReputation,
} from "./receipts/reputation.ts";
export {
  artifactMismatch,
  meteringDisagrees,
  reputationReceiptOf,
  reputationVerificationOf,
  usageDiverges,
} from "./receipts/reputation_input.ts";
export {
  createTicket,
  TICKET_KIND,
  TICKET_TAG,
  type TicketCheck,
  type TicketContent,
  type TicketRefusal,
  type TicketTarget,
  type VerifiedTicket,
  verifyTicket,
} from "./direct/ticket.ts";
export { loadWasmNostr, type WasmNostr } from "./nostr/wasm.ts";
export { type NativeCurve, nativeSecp256k1 } from "./nostr/native.ts";
export { fastestSecp256k1, nativeBackend, PURE_SECP256K1, type Secp256k1Backend } from "./nostr/secp256k1.ts";
export {
  createVoucher,
  newVoucherId,
  type VerifiedVoucher,
  verifyVoucher,
  VOUCHER_KIND,
  VOUCHER_MAX_NANO,
  VOUCHER_TAG,
  type VoucherCheck,
  type VoucherContent,
  type VoucherRefusal,
  type VoucherSigner,
} from "./vouchers/voucher.ts";
