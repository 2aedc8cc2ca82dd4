// The OpenAPI 3.1 document served at /openapi.json. Request bodies are the very schemas the edge
// compiles into its validators (shared/openai/request_schemas.ts, the handlers' *_SCHEMA), so the
// document cannot drift from what is checked; responses are described in response_schemas.ts. A test walks the app's
// routes and fails when one is missing.
import {
  CHAT_REQUEST_SCHEMA,
  EMBEDDINGS_REQUEST_SCHEMA,
  HEARTBEAT_SCHEMA,
  type JsonSchema,
  NOSTR_EVENT_SCHEMA,
  publishedSchema,
} from "../../shared/mod.ts";
import { DEPOSIT_REQUEST_SCHEMA } from "../api/deposits.ts";
import { KEY_REQUEST_SCHEMA } from "../api/keys.ts";
import { DEVICE_DECISION_SCHEMA, DEVICE_POLL_SCHEMA } from "../api/login.ts";
import { PAYOUT_ADDRESS_SCHEMA, PAYOUT_REQUEST_SCHEMA } from "../api/nodes/payouts.ts";
import {
  CLAIM_REQUEST_SCHEMA,
  COUNTERSIGN_REQUEST_SCHEMA,
  REVOKE_REQUEST_SCHEMA,
} from "../api/operator_claims.ts";
import { COINPAY_EVENT_SCHEMA } from "../payments/webhook.ts";
import { ROUTE_REQUEST_SCHEMA } from "../direct/route_request.ts";
import { ref, RESPONSE_SCHEMAS } from "./response_schemas.ts";
import {
  VOUCHER_REDEEM_SCHEMA,
  VOUCHER_REQUEST_SCHEMA,
  VOUCHER_RESPONSE_SCHEMAS,
} from "../vouchers/schemas.ts";

type Json = Record<string, unknown>;

const REQUEST_SCHEMAS: Record<string, JsonSchema> = {
  ChatCompletionRequest: CHAT_REQUEST_SCHEMA,
  EmbeddingsRequest: EMBEDDINGS_REQUEST_SCHEMA,
  KeyRequest: KEY_REQUEST_SCHEMA,
  DepositRequest: DEPOSIT_REQUEST_SCHEMA,
  NostrEvent: NOSTR_EVENT_SCHEMA,
  Heartbeat: HEARTBEAT_SCHEMA,
  PayoutAddressRequest: PAYOUT_ADDRESS_SCHEMA,
  PayoutRequest: PAYOUT_REQUEST_SCHEMA,
  DeviceLoginPoll: DEVICE_POLL_SCHEMA,
  DeviceLoginDecision: DEVICE_DECISION_SCHEMA,
  CoinPayEvent: COINPAY_EVENT_SCHEMA,
  OperatorClaimRequest: CLAIM_REQUEST_SCHEMA,
  OperatorCountersignRequest: COUNTERSIGN_REQUEST_SCHEMA,
  OperatorRevokeRequest: REVOKE_REQUEST_SCHEMA,
  RouteRequest: ROUTE_REQUEST_SCHEMA,
  VoucherRequest: VOUCHER_REQUEST_SCHEMA,
  VoucherRedemptionRequest: VOUCHER_REDEEM_SCHEMA,
};

const json = (schema: Json) => ({ "application/json": { schema } });

function errors(...statuses: number[]): Json {
  return Object.fromEntries(statuses.map((s) => [String(s), { $ref: "#/components/responses/Error" }]));
}

interface Op {
  summary: string;
  tag: string;
  security?: string;
  body?: string;
  optionalBody?: boolean;
  ok: [number, string | null, string];
  errors: number[];
  params?: Json[];
  description?: string;
}

function operation(o: Op): Json {
  return {
    summary: o.summary,
    ...(o.description ? { description: o.description } : {}),
    tags: [o.tag],
    ...(o.security ? { security: [{ [o.security]: [] }] } : { security: [] }),
    ...(o.params ? { parameters: o.params } : {}),
    ...(o.body ? { requestBody: { required: !o.optionalBody, content: json(ref(o.body)) } } : {}),
    responses: {
      [String(o.ok[0])]: {
        description: o.ok[2],
        ...(o.ok[1] ? { content: json(ref(o.ok[1])) } : {}),
      },
      ...errors(...o.errors),
    },
  };
}

const V1 = "OpenAI-compatible API";
const CONSUMER = "Consumer API";
const NODE = "Node API";
const WEBHOOK = "Webhooks";
const OPERATIONS = "Operations";

/** The OpenAPI 3.1 document for the control plane's JSON APIs. */
export function openApiDocument(opts: { version: string; serverUrl?: string | null }): Json {
  const schemas: Json = {};
  for (const [name, s] of Object.entries(REQUEST_SCHEMAS)) schemas[name] = publishedSchema(s);
  Object.assign(schemas, RESPONSE_SCHEMAS, VOUCHER_RESPONSE_SCHEMAS);

  const chat = operation({
    summary: "Create a chat completion",
    tag: V1,
    security: "apiKey",
    body: "ChatCompletionRequest",
    ok: [200, "ChatCompletion", "The completion; with `stream: true`, server-sent events of chunks."],
    errors: [400, 401, 402, 404, 429, 502, 503, 504],
    description: "Routed to a live node serving the model; the worst-case cost is reserved first.",
  });
  (chat.responses as Json)["200"] = {
    description:
      "The completion; with `stream: true`, server-sent events of chunks ending in `data: [DONE]`.",
    content: {
      "application/json": { schema: ref("ChatCompletion") },
      "text/event-stream": { schema: { type: "string" } },
    },
  };

  const relay = operation({
    summary: "Relay a direct-mode request to a node behind NAT",
    tag: V1,
    security: "apiKey",
    params: [
      { name: "job_id", in: "path", required: true, schema: { type: "string" } },
      {
        name: "node",
        in: "query",
        required: true,
        schema: { type: "string", pattern: "^[0-9a-f]{64}$" },
        description: "A candidate of the job (its `relay` link names it).",
      },
    ],
    ok: [200, null, "The node's answer lines (encrypted frames), as NDJSON."],
    errors: [400, 401, 403, 404, 409, 413, 429, 502, 503, 504],
    description: "The same body and answer as the node's own `POST /direct` (docs/protocol.md §14): " +
      "line 1 the header `{ticket, consumer}`, then one encrypted frame per line. The control plane " +
      "forwards the lines over the node's socket and cannot read them.",
  });
  relay.requestBody = {
    required: true,
    content: { "application/x-ndjson": { schema: { type: "string" } } },
  };
  (relay.responses as Json)["200"] = {
    description: "The node's answer lines (encrypted frames), as NDJSON.",
    content: { "application/x-ndjson": { schema: { type: "string" } } },
  };

  const paths: Record<string, Json> = {
    "/v1/chat/completions": { post: chat },
    "/v1/route": {
      post: operation({
        summary: "Route a direct-mode (end-to-end encrypted) request: candidates and tickets",
        tag: V1,
        security: "apiKey",
        body: "RouteRequest",
        ok: [200, "RouteAnswer", "The job and, per candidate node, its endpoint, relay link and ticket."],
        errors: [400, 401, 402, 404, 429, 503],
        description: "Holds the worst-case cost as /v1/chat/completions does, then answers one ticket " +
          "(kind 7478, signed by the platform key) per candidate instead of sending the job " +
          "(docs/protocol.md §14).",
      }),
    },
    "/v1/route/{job_id}/usage": {
      post: operation({
        summary: "Acknowledge a direct job's usage (the consumer's signed count)",
        tag: V1,
        security: "apiKey",
        params: [{ name: "job_id", in: "path", required: true, schema: { type: "string" } }],
        body: "NostrEvent",
        ok: [200, "UsageAccepted", "Accepted; the job settles on it and the node's receipt."],
        errors: [400, 401, 403, 404, 409, 429],
        description: "A kind 7479 event signed by the ticket's consumer key; one per job.",
      }),
    },
    "/v1/relay/{job_id}": { post: relay },
    "/api/model-keys": {
      post: operation({
        summary: "Announce a model key (IPIP-0028)",
        tag: NODE,
        body: "NostrEvent",
        ok: [201, "ModelKeyStored", "Stored (200 when it was already)."],
        errors: [400, 409],
        description: "A kind 7480 event signed by the model's publisher (docs/protocol.md §14).",
      }),
      get: operation({
        summary: "A model's announced keys",
        tag: NODE,
        params: [{ name: "model", in: "query", required: true, schema: { type: "string" } }],
        ok: [200, "ModelKeyList", "The announcements, oldest first."],
        errors: [400],
      }),
    },
    "/api/model-keys/grants": {
      post: operation({
        summary: "Grant a model key to a node",
        tag: NODE,
        body: "NostrEvent",
        ok: [201, "ModelKeyGrantStored", "Stored (200 when not newer than the node's grant)."],
        errors: [400, 404],
        description: "A kind 7481 event signed by the announcement's publisher; its content is the " +
          "model secret NIP-44 encrypted to the node.",
      }),
      get: operation({
        summary: "The model-key grants of a node",
        tag: NODE,
        params: [{ name: "node", in: "query", required: true, schema: { type: "string" } }],
        ok: [200, "ModelKeyGrantList", "The grants, sealed to the node."],
        errors: [400],
      }),
    },
    "/v1/embeddings": {
      post: operation({
        summary: "Create embeddings",
        tag: V1,
        security: "apiKey",
        body: "EmbeddingsRequest",
        ok: [200, "Embeddings", "The embeddings."],
        errors: [400, 401, 402, 404, 429, 502, 503, 504],
      }),
    },
    "/v1/models": {
      get: operation({
        summary: "List the models live nodes serve",
        tag: V1,
        security: "apiKey",
        ok: [200, "ModelList", "The models."],
        errors: [401, 429],
      }),
    },
    "/v1/models/{model}": {
      get: operation({
        summary: "One model live nodes serve (OpenAI's retrieve)",
        tag: V1,
        security: "apiKey",
        params: [{ name: "model", in: "path", required: true, schema: { type: "string" } }],
        ok: [200, "Model", "The model, as in the list."],
        errors: [401, 404, 429],
      }),
    },
    "/health": {
      get: operation({
        summary: "Liveness",
        tag: CONSUMER,
        ok: [200, "Health", "Alive."],
        errors: [],
      }),
    },
    "/healthz": {
      get: operation({
        summary: "Liveness (the process answers), for a load balancer",
        tag: OPERATIONS,
        ok: [200, "Health", "Alive."],
        errors: [],
      }),
    },
    "/readyz": {
      get: operation({
        summary: "Readiness: database and migrations, NATS when configured, not draining",
        description: "503 with the same body when not ready: a load balancer sends this instance no traffic.",
        tag: OPERATIONS,
        ok: [200, "Readiness", "Ready; each check's outcome."],
        errors: [],
      }),
    },
    "/api/keys": {
      post: operation({
        summary: "Create an API key",
        tag: CONSUMER,
        body: "KeyRequest",
        optionalBody: true,
        ok: [201, "Key", "The key, shown once."],
        errors: [400, 429],
      }),
    },
    "/api/keys/revoke": {
      post: operation({
        summary: "Revoke the API key that calls it",
        tag: CONSUMER,
        security: "apiKey",
        ok: [200, "KeyRevoked", "The key no longer works, on any instance."],
        errors: [401, 403],
      }),
    },
    "/api/pricing": {
      get: operation({
        summary: "The published fee, price bounds and limits",
        tag: CONSUMER,
        ok: [200, "Pricing", "The pricing."],
        errors: [],
      }),
    },
    "/api/receipts": {
      get: operation({
        summary: "A node's signed receipts, oldest first (keyset pages)",
        tag: CONSUMER,
        params: [
          {
            name: "node",
            in: "query",
            required: true,
            schema: { type: "string" },
            description: "The node's hex public key or npub.",
          },
          {
            name: "after",
            in: "query",
            schema: { type: "string", pattern: "^[0-9]+$" },
            description: "The `next` of the previous page (a platform chain seq).",
          },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500 } },
        ],
        ok: [200, "ReceiptPage", "The receipts after `after`; `next` is null on the last page."],
        errors: [400],
        description: "Node receipts (kind 7475) and platform receipts (kind 7476), exactly as signed " +
          "(docs/protocol.md §11; `infernet receipts verify`).",
      }),
    },
    "/api/receipts/{job_id}": {
      get: operation({
        summary: "A job's signed receipts, one per node that took it",
        tag: CONSUMER,
        params: [{ name: "job_id", in: "path", required: true, schema: { type: "string" } }],
        ok: [200, "JobReceipts", "The receipts of the job (x-infernet-job-id of its answer)."],
        errors: [400, 404],
      }),
    },
    "/.well-known/infernet.json": {
      get: operation({
        summary: "The control plane's public key, which countersigns receipts",
        tag: CONSUMER,
        ok: [200, "PlatformKey", "The key, as hex, npub and DID."],
        errors: [],
      }),
    },
    "/.well-known/nostr.json": {
      get: operation({
        summary: "NIP-05: `_@<host>` is the control plane's key",
        tag: CONSUMER,
        params: [{ name: "name", in: "query", schema: { type: "string" } }],
        ok: [200, "Nip05", '`{"names": {"_": <hex>}}`.'],
        errors: [],
      }),
    },
    "/api/reputation/{key}": {
      get: operation({
        summary: "A node's reputation (formula 1), computed now",
        tag: CONSUMER,
        params: [{
          name: "key",
          in: "path",
          required: true,
          schema: { type: "string" },
          description: "The node's hex public key or npub.",
        }],
        ok: [200, "Reputation", "The score and its components at `computed_at`."],
        errors: [400],
        description: "Anyone can recompute it from the node's receipts and verifications " +
          "(docs/protocol.md §12; `infernet reputation`). A key with no history gets the prior.",
      }),
    },
    "/v1/vouchers": {
      post: operation({
        summary: "Take spending vouchers for a consumer key",
        tag: V1,
        security: "apiKey",
        body: "VoucherRequest",
        params: [{
          name: "Idempotency-Key",
          in: "header",
          required: false,
          schema: { type: "string" },
          description: "Makes a retried request answer the same vouchers and hold nothing more.",
        }],
        ok: [201, "VoucherBatch", "The signed vouchers (kind 7482); count × max_usd is held."],
        errors: [400, 401, 402, 409, 429],
        description: 'Payment without a live control plane (docs/protocol.md, "Vouchers").',
      }),
    },
    "/api/vouchers/redeem": {
      post: operation({
        summary: "Redeem a voucher with the node's receipt for the job",
        tag: NODE,
        security: "nip98",
        body: "VoucherRedemptionRequest",
        ok: [200, "VoucherRedemption", "Charged min(max, usage × price); the rest released."],
        errors: [400, 401, 403, 409, 410, 413],
      }),
    },
    "/api/deposits": {
      post: operation({
        summary: "Start a crypto deposit",
        tag: CONSUMER,
        security: "apiKey",
        body: "DepositRequest",
        params: [{
          name: "Idempotency-Key",
          in: "header",
          required: false,
          schema: { type: "string" },
          description: "Makes a retried request return the same deposit.",
        }],
        ok: [201, "Deposit", "Where to send how much."],
        errors: [400, 401, 409, 502, 503],
      }),
    },
    "/api/deposits/{id}": {
      get: operation({
        summary: "A deposit's status",
        tag: CONSUMER,
        security: "apiKey",
        params: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        ok: [200, "Deposit", "The deposit."],
        errors: [401, 404],
      }),
    },
    "/api/balance": {
      get: operation({
        summary: "Balance, held amount and recent movements",
        tag: CONSUMER,
        security: "apiKey",
        ok: [200, "Balance", "The statement."],
        errors: [401],
      }),
    },
    "/api/webhooks/coinpay": {
      post: operation({
        summary: "CoinPayPortal payment events",
        tag: WEBHOOK,
        security: "coinPaySignature",
        body: "CoinPayEvent",
        ok: [200, "WebhookReceived", "Handled; each event id is acted on once."],
        errors: [401, 404, 413],
        description: "Only a correctly signed, fresh event for this business changes anything.",
      }),
    },
    "/api/nodes/register": {
      post: operation({
        summary: "Register or update a node (its signed node record)",
        tag: NODE,
        security: "nip98",
        body: "NostrEvent",
        ok: [201, "Registered", "Registered (200 when updated)."],
        errors: [400, 401, 409, 413],
      }),
    },
    "/api/nodes/heartbeat": {
      post: operation({
        summary: "Report load and served models",
        tag: NODE,
        security: "nip98",
        body: "Heartbeat",
        ok: [200, "HeartbeatAck", "Recorded."],
        errors: [400, 401, 404, 413],
      }),
    },
    "/api/nodes/ws": {
      get: operation({
        summary: "The node's job socket (WebSocket upgrade)",
        tag: NODE,
        ok: [101, null, "Switching protocols; the node then answers a NIP-42-style challenge."],
        errors: [426],
      }),
    },
    "/api/nodes/payout-address": {
      post: operation({
        summary: "Save the payout address for a coin",
        tag: NODE,
        security: "nip98",
        body: "PayoutAddressRequest",
        ok: [200, "PayoutAddress", "Saved."],
        errors: [400, 401],
      }),
    },
    "/api/nodes/payout-addresses": {
      get: operation({
        summary: "The saved payout addresses",
        tag: NODE,
        security: "nip98",
        ok: [200, "PayoutAddresses", "The addresses."],
        errors: [401],
      }),
    },
    "/api/nodes/payouts": {
      get: operation({
        summary: "The node's payouts",
        tag: NODE,
        security: "nip98",
        ok: [200, "PayoutList", "Newest first."],
        errors: [401],
      }),
      post: operation({
        summary: "Request a payout of the pending earnings",
        tag: NODE,
        security: "nip98",
        body: "PayoutRequest",
        optionalBody: true,
        ok: [201, "PayoutCreated", "The payout, sent or queued."],
        errors: [400, 401, 409],
      }),
    },
    "/api/nodes/earnings": {
      get: operation({
        summary: "Earnings: pending, in flight, paid, per day and per coin",
        tag: NODE,
        security: "nip98",
        ok: [200, "Earnings", "The summary."],
        errors: [401],
      }),
    },
    "/api/nodes/{pubkey}": {
      get: operation({
        summary: "A node's public status",
        tag: NODE,
        params: [{
          name: "pubkey",
          in: "path",
          required: true,
          schema: { type: "string" },
          description: "Hex public key or npub.",
        }],
        ok: [200, "NodeStatus", "The node."],
        errors: [404],
      }),
    },
    "/api/verifications": {
      get: operation({
        summary: "A node's verification results (signed canary and cross-check verdicts)",
        tag: NODE,
        params: [
          {
            name: "node",
            in: "query",
            required: true,
            schema: { type: "string" },
            description: "Hex or npub.",
          },
          {
            name: "after",
            in: "query",
            schema: { type: "string" },
            description: "The `next` of the previous page.",
          },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500, default: 100 } },
        ],
        ok: [200, "VerificationList", "Oldest first."],
        errors: [400],
        description: "Kind 7477 events signed by the control plane (docs/protocol.md, Verification).",
      }),
    },
    "/api/operator/claims": {
      post: operation({
        summary: "Send a node's claim by an operator, with the countersignature when there is one",
        tag: NODE,
        security: "nip98",
        body: "OperatorClaimRequest",
        ok: [201, "OperatorClaimOne", "The claim: pending until countersigned, else active."],
        errors: [400, 401, 403, 409],
        description: "Signed (NIP-98) by the node or the operator the claim names (docs/protocol.md §10).",
      }),
      get: operation({
        summary: "The claims naming the signer as operator",
        tag: NODE,
        security: "nip98",
        ok: [200, "OperatorClaimList", "Newest first."],
        errors: [401],
      }),
    },
    "/api/operator/countersign": {
      post: operation({
        summary: "Countersign a pending claim naming the signer",
        tag: NODE,
        security: "nip98",
        body: "OperatorCountersignRequest",
        ok: [200, "OperatorClaimOne", "The claim, now active."],
        errors: [400, 401, 404, 409],
      }),
    },
    "/api/operator/revoke": {
      post: operation({
        summary: "Revoke a claim (node or operator) with a NIP-09 deletion of one's own event",
        tag: NODE,
        security: "nip98",
        body: "OperatorRevokeRequest",
        ok: [200, "OperatorClaimList", "The claims it ended."],
        errors: [400, 401, 403, 404],
      }),
    },
    "/api/operator/node": {
      get: operation({
        summary: "The signing node's current claim, if any",
        tag: NODE,
        security: "nip98",
        ok: [200, "OperatorClaimOne", "`claim` is null when no operator claims the node."],
        errors: [401],
      }),
    },
    "/metrics": {
      get: {
        summary: "Prometheus metrics",
        description: "Prometheus text exposition format. Asks for the bearer token when " +
          "`INFERNET_METRICS_TOKEN` is set.",
        tags: [OPERATIONS],
        security: [{ metricsToken: [] }, {}],
        responses: {
          "200": { description: "The metrics.", content: { "text/plain": { schema: { type: "string" } } } },
          ...errors(401),
        },
      },
    },
    "/api/login/device": {
      post: operation({
        summary: "Start a dashboard device-code login (infernet login)",
        tag: NODE,
        security: "nip98",
        ok: [201, "DeviceLoginStarted", "Show the user the code and the URI."],
        errors: [401, 403, 429],
      }),
    },
    "/api/login/device/poll": {
      post: operation({
        summary: "Poll a device-code login",
        tag: NODE,
        security: "nip98",
        body: "DeviceLoginPoll",
        ok: [200, "DeviceLogin", "The login's state."],
        errors: [400, 401, 403, 404],
      }),
    },
    "/api/login/device/decision": {
      post: operation({
        summary: "Approve or deny the browser that entered the code",
        tag: NODE,
        security: "nip98",
        body: "DeviceLoginDecision",
        ok: [200, "DeviceLogin", "The login's state."],
        errors: [400, 401, 403, 404, 409, 410],
      }),
    },
  };

  return {
    openapi: "3.1.0",
    info: {
      title: "Infernet API",
      version: opts.version,
      description: "An open marketplace for GPU inference: an OpenAI-compatible API for consumers, " +
        "the API node daemons speak (NIP-98 signed), and the payment processor's webhook.",
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [{ url: opts.serverUrl ?? "/" }],
    tags: [
      { name: V1, description: "Bearer API key (`POST /api/keys`)." },
      { name: CONSUMER },
      { name: NODE, description: "Signed by the node's Nostr key (NIP-98)." },
      { name: WEBHOOK },
      { name: OPERATIONS, description: "For whoever runs the control plane." },
    ],
    paths,
    components: {
      schemas,
      responses: {
        Error: { description: "An error, in OpenAI's shape.", content: json(ref("Error")) },
      },
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "An API key from `POST /api/keys`." },
        nip98: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description: "NIP-98: `Nostr <base64 of a kind-27235 event>` with tags `u` (this exact URL), " +
            "`method` and `payload` (sha256 hex of the body), created within ±60 s, each event used once.",
        },
        metricsToken: { type: "http", scheme: "bearer", description: "`INFERNET_METRICS_TOKEN`." },
        coinPaySignature: {
          type: "apiKey",
          in: "header",
          name: "X-CoinPay-Signature",
          description: '`t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, at most 300 s old.',
        },
      },
    },
  };
}
