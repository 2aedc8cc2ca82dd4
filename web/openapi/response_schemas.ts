// The responses' schemas in /openapi.json. Unlike the request bodies, nothing validates these: they
// describe what the handlers answer, and OpenAI's error object every JSON API shares.
import { SUPPORTED_COINS, VRAM_TIERS } from "../../shared/mod.ts";

type Json = Record<string, unknown>;

/** A reference to a schema in the document's components. */
export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const USD: Json = { type: "string", pattern: "^\\d+\\.\\d+$", description: "USD as a decimal string." };
const TIME: Json = { type: "string", format: "date-time" };

/** The response schemas, by component name. */
export const RESPONSE_SCHEMAS: Record<string, Json> = {
  Error: {
    type: "object",
    description: "OpenAI's error object; every JSON API here answers errors in it.",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["message", "type", "param", "code"],
        properties: {
          message: { type: "string" },
          type: {
            enum: [
              "invalid_request_error",
              "authentication_error",
              "insufficient_quota",
              "not_found_error",
              "rate_limit_error",
              "server_error",
              "service_unavailable",
            ],
          },
          param: { type: ["string", "null"], description: "The request field at fault." },
          code: { type: ["string", "null"], description: "A stable machine code, e.g. invalid_api_key." },
        },
      },
    },
  },
  ChatCompletion: {
    type: "object",
    description: "OpenAI's chat completion object, as the engine produced it (usage metered by Infernet).",
    properties: {
      id: { type: "string" },
      object: { const: "chat.completion" },
      created: { type: "integer" },
      model: { type: "string" },
      choices: { type: "array", items: { type: "object" } },
      usage: ref("Usage"),
    },
  },
  Usage: {
    type: "object",
    properties: {
      prompt_tokens: { type: "integer" },
      completion_tokens: { type: "integer" },
      total_tokens: { type: "integer" },
    },
  },
  Embeddings: {
    type: "object",
    properties: {
      object: { const: "list" },
      data: { type: "array", items: { type: "object" } },
      model: { type: "string" },
      usage: ref("Usage"),
    },
  },
  Model: {
    type: "object",
    properties: { id: { type: "string" }, object: { const: "model" }, owned_by: { type: "string" } },
  },
  ModelList: {
    type: "object",
    properties: {
      object: { const: "list" },
      data: { type: "array", items: ref("Model") },
    },
  },
  Key: {
    type: "object",
    properties: {
      key: { type: "string", description: "The API key, shown only this once." },
      id: { type: "string" },
      prefix: { type: "string" },
      label: { type: ["string", "null"] },
      created_at: TIME,
      note: { type: "string" },
    },
  },
  KeyRevoked: {
    type: "object",
    required: ["id", "revoked"],
    properties: {
      id: { type: "string" },
      revoked: { type: "boolean", description: "False when it was already revoked." },
    },
  },
  Deposit: {
    type: "object",
    properties: {
      id: { type: "string" },
      object: { const: "deposit" },
      status: { type: "string", description: "The processor's status, or credited once confirmed." },
      amount_usd: USD,
      coin: { enum: SUPPORTED_COINS },
      payment_address: { type: "string" },
      crypto_amount: { type: "string" },
      qr_code: { type: ["string", "null"] },
      expires_at: TIME,
      created_at: TIME,
      credited_at: { type: ["string", "null"], format: "date-time" },
    },
  },
  Balance: {
    type: "object",
    properties: {
      object: { const: "balance" },
      currency: { const: "USD" },
      balance_usd: USD,
      held_usd: { ...USD, description: "Reserved for jobs in flight." },
      movements: { type: "array", items: { type: "object" } },
      deposits: { type: "array", items: ref("Deposit") },
    },
  },
  Pricing: {
    type: "object",
    properties: {
      currency: { const: "USD" },
      fee_bps: { type: "integer", description: "The platform fee in basis points." },
      price_bounds: {
        type: "object",
        description: `Per VRAM tier (${VRAM_TIERS.join(", ")}): min_per_1k_usd and max_per_1k_usd.`,
      },
      coins: { type: "array", items: { enum: SUPPORTED_COINS } },
      min_deposit_usd: USD,
      max_deposit_usd: USD,
      min_payout_usd: USD,
    },
  },
  Payout: {
    type: "object",
    properties: {
      id: { type: "integer" },
      coin: { enum: SUPPORTED_COINS },
      address: { type: "string" },
      amount_usd: USD,
      status: { type: "string" },
      tx_hash: { type: ["string", "null"] },
      created_at: TIME,
    },
  },
  VerificationList: {
    type: "object",
    required: ["node", "verifications", "next"],
    properties: {
      node: { type: "string", description: "The node's public key, hex." },
      verifications: { type: "array", items: ref("NostrEvent") },
      next: { type: ["string", "null"], description: "The cursor of the next page; null on the last." },
    },
  },
  RouteAnswer: {
    type: "object",
    required: ["job_id", "expires_at", "candidates"],
    properties: {
      job_id: { type: "string" },
      expires_at: { type: "integer", description: "Unix seconds: the tickets' expiry." },
      candidates: {
        type: "array",
        items: {
          type: "object",
          required: ["node", "npub", "endpoint", "relay", "model_key", "ticket"],
          properties: {
            node: { type: "string", description: "The node's public key, hex." },
            npub: { type: "string" },
            endpoint: {
              type: ["string", "null"],
              description: "The node's direct URL (POST <endpoint>/direct); null: use `relay`.",
            },
            relay: { type: "string", description: "The relay path on this server." },
            model_key: { type: ["string", "null"], description: "The model key (target model), hex." },
            ticket: { $ref: "#/components/schemas/NostrEvent", description: "The ticket (kind 7478)." },
          },
        },
      },
    },
  },
  UsageAccepted: {
    type: "object",
    required: ["job_id", "accepted"],
    properties: { job_id: { type: "string" }, accepted: { type: "boolean" } },
  },
  ModelKeyStored: {
    type: "object",
    required: ["model_pubkey", "event_id"],
    properties: { model_pubkey: { type: "string" }, event_id: { type: "string" } },
  },
  ModelKeyGrantStored: {
    type: "object",
    required: ["model_pubkey", "node", "event_id", "stored"],
    properties: {
      model_pubkey: { type: "string" },
      node: { type: "string" },
      event_id: { type: "string" },
      stored: { type: "boolean" },
    },
  },
  ModelKeyList: {
    type: "object",
    required: ["model", "keys"],
    properties: { model: { type: "string" }, keys: { type: "array", items: ref("NostrEvent") } },
  },
  ModelKeyGrantList: {
    type: "object",
    required: ["node", "grants"],
    properties: {
      node: { type: "string" },
      grants: {
        type: "array",
        items: {
          type: "object",
          required: ["model_pubkey", "grant"],
          properties: { model_pubkey: { type: "string" }, grant: ref("NostrEvent") },
        },
      },
    },
  },
  ReceiptItem: {
    type: "object",
    required: ["receipt", "node_receipt"],
    properties: {
      receipt: { $ref: "#/components/schemas/NostrEvent", description: "The platform receipt (kind 7476)." },
      node_receipt: {
        anyOf: [{ $ref: "#/components/schemas/NostrEvent" }, { type: "null" }],
        description: "The node's receipt (kind 7475); null when it did not sign.",
      },
    },
  },
  ReceiptPage: {
    type: "object",
    required: ["node", "receipts", "next"],
    properties: {
      node: { type: "string" },
      receipts: { type: "array", items: { $ref: "#/components/schemas/ReceiptItem" } },
      next: { type: ["string", "null"] },
    },
  },
  JobReceipts: {
    type: "object",
    required: ["job_id", "receipts"],
    properties: {
      job_id: { type: "string" },
      receipts: { type: "array", items: { $ref: "#/components/schemas/ReceiptItem" } },
    },
  },
  PlatformKey: {
    type: "object",
    required: ["platform_pubkey", "platform_npub", "platform_did", "receipts"],
    properties: {
      platform_pubkey: { type: "string" },
      platform_npub: { type: "string" },
      platform_did: { type: "string" },
      receipts: { type: "string" },
    },
  },
  Nip05: {
    type: "object",
    required: ["names"],
    properties: { names: { type: "object", additionalProperties: { type: "string" } } },
  },
  Reputation: {
    type: "object",
    required: ["pubkey", "npub", "formula", "score", "suspicion", "reliability", "samples", "components"],
    properties: {
      pubkey: { type: "string" },
      npub: { type: "string" },
      formula: { const: 1 },
      score: { type: "number", description: "reliability × (1 − suspicion), 0..1." },
      suspicion: { type: "number", description: "Probability the node spoofs its work, 0..1." },
      reliability: { type: "number", description: "(good + 3) / (good + bad + 4)." },
      samples: { type: "number", description: "good + bad, weighted by age." },
      components: {
        type: "object",
        description: "Weighted sums (weight 0.5^(age / half_life_s)); ttft_ms and tokens_per_second " +
          "are weighted means over good receipts, null without data.",
        properties: {
          ...Object.fromEntries(
            [
              "good",
              "bad",
              "successes",
              "failures",
              "timeouts",
              "node_cancellations",
              "unsigned",
              "metering_disagreements",
              "artifact_mismatches",
              "verification_passes",
              "verification_failures",
            ].map((k) => [k, { type: "number" }]),
          ),
          ttft_ms: { type: ["number", "null"] },
          tokens_per_second: { type: ["number", "null"] },
        },
      },
      computed_at: { type: "integer", description: "T, unix seconds." },
      half_life_s: { type: "integer" },
    },
  },
  NodeStatus: {
    type: "object",
    properties: {
      pubkey: { type: "string" },
      node_id: { type: "string" },
      vram_tier: { enum: VRAM_TIERS },
      models: { type: "array", items: { type: "string" } },
      connected: { type: "boolean" },
      live: { type: "boolean" },
      last_heartbeat_at: { type: ["string", "null"], format: "date-time" },
    },
  },
  Registered: {
    type: "object",
    properties: {
      ok: { const: true },
      status: { enum: ["created", "updated"] },
      node: {
        type: "object",
        properties: {
          pubkey: { type: "string" },
          npub: { type: "string" },
          node_id: { type: "string" },
          vram_tier: { enum: VRAM_TIERS },
          models: { type: "array", items: { type: "string" } },
        },
      },
      heartbeat_interval_ms: { type: "integer" },
      socket_path: { const: "/api/nodes/ws" },
    },
  },
  HeartbeatAck: {
    type: "object",
    properties: { ok: { const: true }, next_heartbeat_ms: { type: "integer" } },
  },
  PayoutAddress: {
    type: "object",
    properties: { coin: { enum: SUPPORTED_COINS }, address: { type: "string" }, updated_at: TIME },
  },
  PayoutAddresses: {
    type: "object",
    properties: { addresses: { type: "array", items: ref("PayoutAddress") } },
  },
  OperatorClaim: {
    type: "object",
    properties: {
      claim_id: { type: "string" },
      node_pubkey: { type: "string" },
      operator_pubkey: { type: "string" },
      status: { enum: ["pending", "active", "revoked", "superseded"] },
      claimed_at: { type: "integer", description: "The claim's created_at (unix seconds)." },
      countersign_id: { type: ["string", "null"] },
      revoked_at: { type: ["integer", "null"] },
      claim: { type: "object", description: "The node's signed claim event." },
    },
  },
  OperatorClaimOne: {
    type: "object",
    properties: { claim: { anyOf: [ref("OperatorClaim"), { type: "null" }] } },
  },
  OperatorClaimList: {
    type: "object",
    properties: { claims: { type: "array", items: ref("OperatorClaim") } },
  },
  PayoutList: { type: "object", properties: { payouts: { type: "array", items: ref("Payout") } } },
  PayoutCreated: { type: "object", properties: { payout: ref("Payout") } },
  Earnings: {
    type: "object",
    properties: {
      pending_usd: USD,
      in_flight_usd: USD,
      paid_usd: USD,
      min_payout_usd: USD,
      auto_payout_usd: { type: ["string", "null"] },
      days: {
        type: "array",
        items: {
          type: "object",
          properties: { day: { type: "string" }, earned_usd: USD, jobs: { type: "integer" } },
        },
      },
      coins: { type: "array", items: { type: "object" } },
    },
  },
  DeviceLoginStarted: {
    type: "object",
    properties: {
      device_code: { type: "string" },
      user_code: { type: "string" },
      verification_uri: { type: "string" },
      verification_uri_complete: { type: "string" },
      expires_in: { type: "integer" },
      interval: { type: "integer" },
    },
  },
  WebhookReceived: {
    type: "object",
    properties: { received: { const: true }, outcome: { type: "string" } },
  },
  Health: { type: "object", properties: { ok: { const: true } } },
  Readiness: {
    type: "object",
    required: ["ready", "draining", "checks"],
    properties: {
      ready: { type: "boolean" },
      draining: { type: "boolean" },
      checks: { type: "object", additionalProperties: { type: "string" }, description: "`ok` or why not" },
    },
  },
  DeviceLogin: {
    type: "object",
    properties: {
      status: { type: "string" },
      expires_in: { type: "integer" },
      browser: { type: ["object", "null"] },
    },
  },
};
