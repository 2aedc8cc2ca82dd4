// The vouchers' request and response bodies as published in /openapi.json.
import { type JsonSchema, NOSTR_EVENT_SCHEMA } from "../../shared/mod.ts";

const HEX64 = { type: "string", pattern: "^[0-9a-f]{64}$" } as const;
const NANO = { type: "string", pattern: "^[0-9]+$", description: "nano-USD (1e-9 USD), integer." } as const;

/** `POST /v1/vouchers`'s body. */
export const VOUCHER_REQUEST_SCHEMA: JsonSchema = {
  type: "object",
  title: "VoucherRequest",
  required: ["count", "max_usd", "consumer_pubkey"],
  properties: {
    count: { type: "integer", minimum: 1, maximum: 100, description: "How many vouchers." },
    max_usd: {
      anyOf: [{ type: "number", minimum: 0 }, { type: "string" }],
      description: "The most one voucher pays, USD with at most 9 decimals.",
      examples: ["0.05"],
    },
    ttl_s: { type: "integer", minimum: 1, maximum: 604_800, description: "Life in seconds (default 86400)." },
    consumer_pubkey: {
      ...HEX64,
      description: "The consumer key that must sign the job requests carrying them.",
    },
  },
};

/** `POST /api/vouchers/redeem`'s body. */
export const VOUCHER_REDEEM_SCHEMA: JsonSchema = {
  type: "object",
  title: "VoucherRedemptionRequest",
  required: ["voucher", "receipt", "price"],
  properties: {
    voucher: { ...NOSTR_EVENT_SCHEMA, description: "The kind-7482 voucher, as issued." },
    receipt: { ...NOSTR_EVENT_SCHEMA, description: "The node's kind-7475 receipt for the job it paid for." },
    price: {
      type: "object",
      required: ["prompt_per_1k", "completion_per_1k"],
      properties: {
        prompt_per_1k: { type: "integer", minimum: 0 },
        completion_per_1k: { type: "integer", minimum: 0 },
      },
      description: "What the node charged, nano-USD per 1,000 tokens; at most its registered prices.",
    },
  },
};

/** The responses. */
export const VOUCHER_RESPONSE_SCHEMAS: Record<string, unknown> = {
  VoucherBatch: {
    type: "object",
    properties: {
      object: { const: "voucher_batch" },
      batch: { type: "string", description: "The Idempotency-Key, or a generated name." },
      platform_pubkey: HEX64,
      consumer_pubkey: HEX64,
      count: { type: "integer" },
      max_usd: { type: "string" },
      total_usd: { type: "string" },
      expires_at: { type: "integer", description: "Unix seconds." },
      vouchers: { type: "array", items: { $ref: "#/components/schemas/NostrEvent" } },
    },
  },
  VoucherRedemption: {
    type: "object",
    properties: {
      object: { const: "voucher_redemption" },
      voucher_id: { type: "string" },
      job_id: { type: "string" },
      charged_usd: { type: "string" },
      charged_nano: NANO,
      operator_share_nano: NANO,
      platform_fee_nano: NANO,
      released_nano: NANO,
    },
  },
};
