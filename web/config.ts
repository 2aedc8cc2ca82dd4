// The control plane's configuration: environment and flags parsed once into a typed value.
import { parseArgs } from "node:util";
import {
  DEFAULT_FEE_BPS,
  DEFAULT_REPUTATION_HALF_LIFE_S,
  isLogLevel,
  type LogLevel,
  parseDecimal,
} from "../shared/mod.ts";
import { isRelayUrl } from "../shared/relay/mod.ts";

/** Everything the control plane needs to know to start. */
export interface WebConfig {
  hostname: string;
  port: number;
  /** Where PGlite and the local KV live. */
  dataDir: string;
  /** A postgres:// URL, or null for embedded PGlite in `dataDir`. */
  databaseUrl: string | null;
  /** A KV path or KV Connect URL; null means `<dataDir>/kv.sqlite3`. */
  kv: string | null;
  /**
   * Where rate limits, the NIP-98 replay window and login state live (`INFERNET_SHARED_STATE`):
   * `postgres` (the default with DATABASE_URL) shares them between instances on that database;
   * `local` keeps them in memory and the local KV (the single-machine default).
   */
  sharedState: "local" | "postgres";
  /**
   * On SIGTERM: how long `/readyz` says 503 before the listener closes, so a load balancer stops
   * sending (`INFERNET_DRAIN_DELAY_MS`), and the longest in-flight jobs are then waited for
   * (`INFERNET_DRAIN_TIMEOUT_MS`).
   */
  drainDelayMs: number;
  drainTimeoutMs: number;
  /**
   * The settlement journal's directory (`INFERNET_JOURNAL_DIR`, default `<dataDir>/journal`); null
   * (`off`): no journal, answers wait for their settlement to commit to the database.
   */
  journalDir: string | null;
  /**
   * The control plane's Nostr key file (`INFERNET_PLATFORM_KEY_FILE`, default
   * `<dataDir>/platform.key`, created on first start); null: a key in memory only (tests).
   */
  platformKeyFile: string | null;
  /** How long a node's receipt is waited for after its job ends (`INFERNET_RECEIPT_WAIT_MS`). */
  receiptWaitMs: number;
  /** How long a direct-mode ticket is valid, seconds (`INFERNET_TICKET_TTL_S`). */
  ticketTtlS: number;
  /**
   * Direct mode: how long the node's receipt and the consumer's usage ack wait for each other
   * before the job settles on the one that came (`INFERNET_DIRECT_ACK_WAIT_MS`).
   */
  directAckWaitMs: number;
  /**
   * With the journal on: how long a finished job waits to be written with the ones after it, so
   * the database sees one commit per batch rather than per job (`INFERNET_SETTLE_LINGER_MS`).
   */
  settleLingerMs: number;
  /**
   * Embedded PGlite's thread and the receipts' crypto worker at idle priority, raised whenever they
   * wait, so their bursts yield to requests (`INFERNET_PGLITE_IDLE`, default on; `0` keeps normal
   * priority). Linux with `chrt`.
   */
  pgliteIdle: boolean;
  /** The URL nodes use to reach this server (NIP-98 `u` tags are checked against it). */
  publicUrl: string | null;
  logLevel: LogLevel;
  /** Start a local node daemon beside the control plane (`deno task start`). */
  localNode: boolean;
  /** A node whose last heartbeat is older than this gets no jobs. */
  nodeStaleMs: number;
  /** The router: the share of jobs whose first place goes to a low-data node (`INFERNET_EXPLORATION_SHARE`). */
  explorationShare: number;
  /** The router: nodes this suspicious or more get no consumer jobs (`INFERNET_SUSPICION_THRESHOLD`). */
  suspicionThreshold: number;
  /** How long a node may take to send its first chunk or answer before the next node is tried. */
  firstTokenTimeoutMs: number;
  /** How long a stream may go silent before it is failed. */
  streamIdleTimeoutMs: number;
  /** After this, a job still running is reaped as timed out. */
  jobTimeoutMs: number;
  /** Requests per second allowed per API key on `/v1` (0: unlimited). */
  keyRateLimitPerSec: number;
  /** API keys one address may create per minute. */
  keyCreationPerMinute: number;
  /** The published platform fee, in basis points of each charge. */
  feeBps: number;
  /** Completion tokens reserved (and asked of the engine) when a request sets no `max_tokens`. */
  defaultMaxTokens: number;
  /** Smallest and largest deposit, in US cents. */
  minDepositCents: number;
  maxDepositCents: number;
  /** Smallest payout an operator may request, in US cents. */
  minPayoutCents: number;
  /** Operators whose earnings reach this (US cents) are paid automatically; 0: never. */
  autoPayoutCents: number;
  /** CoinPayPortal; null means the local fake processor (development only). */
  coinPayPortal: CoinPayPortalConfig | null;
  /** Credit given to the key printed at start on the local network (US cents; fake processor only). */
  devCreditCents: number;
  /** The HMAC secret of dashboard sessions; null: one random secret kept in the KV. */
  sessionSecret: string | null;
  /** How long an operator's dashboard session lasts, in seconds. */
  sessionTtlS: number;
  /** The bearer token `GET /metrics` asks for (`INFERNET_METRICS_TOKEN`); null: open to all. */
  metricsToken: string | null;
  /**
   * Canaries (verification): the share of a node's jobs sent as known-answer checks
   * (`INFERNET_CANARY_RATE`, default 0.01; 0 turns canaries off), and the longest a live node goes
   * without one (`INFERNET_CANARY_FLOOR_MINUTES`, default 30). Both scale with suspicion.
   */
  canaryRate: number;
  canaryFloorMs: number;
  /** Reputation's half-life, seconds (`INFERNET_REPUTATION_HALF_LIFE_S`, default 7 days). */
  reputationHalfLifeS: number;
  /** How often every node's reputation is recomputed (`INFERNET_REPUTATION_REFRESH_MS`, 0: never). */
  reputationRefreshMs: number;
  /**
   * Several instances: the NATS server (with JetStream) they share nodes over (`INFERNET_NATS_URL`,
   * e.g. `nats://127.0.0.1:4222`); null: one instance, no NATS (web/cluster/).
   */
  natsUrl: string | null;
  /** The prefix of this deployment's NATS subjects and KV buckets (`INFERNET_NATS_PREFIX`). */
  natsPrefix: string;
  /** Nostr relays every receipt and verification is published to (`INFERNET_RELAYS`, comma-separated). */
  relays: string[];
}

/** The real payment processor's settings (all four variables, or none). */
export interface CoinPayPortalConfig {
  url: string;
  apiKey: string;
  businessId: string;
  webhookSecret: string;
}

/** A configuration value that cannot be used, with the variable or flag at fault. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function feeBpsFrom(raw: string | undefined): number {
  const bps = intFrom("INFERNET_FEE_BPS", raw, DEFAULT_FEE_BPS);
  if (bps > 5000) throw new ConfigError(`INFERNET_FEE_BPS must be at most 5000 (50 %), got ${bps}`);
  return bps;
}

function natsUrlFrom(raw: string | undefined): string | null {
  if (!raw) return null;
  for (const url of raw.split(",")) {
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(url.trim())) {
      throw new ConfigError(
        `INFERNET_NATS_URL must be nats://host:port (comma-separated for several), got ${url}`,
      );
    }
  }
  return raw;
}

function relaysFrom(raw: string | undefined): string[] {
  const urls = (raw ?? "").split(",").map((u) => u.trim()).filter(Boolean);
  for (const url of urls) {
    if (!isRelayUrl(url)) throw new ConfigError(`INFERNET_RELAYS must be ws:// or wss:// URLs, got ${url}`);
  }
  return [...new Set(urls)];
}

function natsPrefixFrom(raw: string | undefined): string {
  const prefix = raw || "infernet";
  // Used in subject tokens and bucket names: letters, digits, dash and underscore only.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) {
    throw new ConfigError("INFERNET_NATS_PREFIX must be 1-64 letters, digits, dashes or underscores");
  }
  return prefix;
}

function intFrom(name: string, raw: string | undefined, fallback: number, min = 0): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ConfigError(`${name} must be an integer ≥ ${min}, got '${raw}'`);
  }
  return n;
}

function shareFrom(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    throw new ConfigError(`${name} must be from 0 to 1, got '${raw}'`);
  }
  return n;
}

function centsFrom(name: string, raw: string | undefined, fallbackCents: number): number {
  if (raw === undefined || raw === "") return fallbackCents;
  const cents = parseDecimal(raw, 2);
  if (cents === null || cents > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ConfigError(`${name} must be an amount in USD like 10 or 2.50, got '${raw}'`);
  }
  return Number(cents);
}

function coinPayPortalFrom(env: Record<string, string | undefined>): CoinPayPortalConfig | null {
  const names = [
    "COINPAYPORTAL_API_KEY",
    "COINPAYPORTAL_BUSINESS_ID",
    "COINPAYPORTAL_WEBHOOK_SECRET",
  ] as const;
  const set = names.filter((n) => env[n]);
  if (set.length === 0) return null;
  if (set.length < names.length) {
    const missing = names.filter((n) => !env[n]).join(", ");
    throw new ConfigError(`CoinPayPortal is partly configured: also set ${missing}`);
  }
  const url = (env.COINPAYPORTAL_URL || "https://coinpayportal.com").replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+$/.test(url)) {
    throw new ConfigError("COINPAYPORTAL_URL must be a scheme and host, like https://coinpayportal.com");
  }
  return {
    url,
    apiKey: env.COINPAYPORTAL_API_KEY!,
    businessId: env.COINPAYPORTAL_BUSINESS_ID!,
    webhookSecret: env.COINPAYPORTAL_WEBHOOK_SECRET!,
  };
}

function sessionSecretFrom(raw: string | undefined): string | null {
  if (!raw) return null;
  if (raw.length < 32) throw new ConfigError("INFERNET_SESSION_SECRET must be at least 32 characters");
  return raw;
}

function sharedStateFrom(raw: string | undefined, databaseUrl: string | null): "local" | "postgres" {
  const kind = raw || (databaseUrl ? "postgres" : "local");
  if (kind !== "local" && kind !== "postgres") {
    throw new ConfigError(`INFERNET_SHARED_STATE must be local or postgres, got '${raw}'`);
  }
  if (kind === "postgres" && !databaseUrl) {
    throw new ConfigError("INFERNET_SHARED_STATE=postgres needs DATABASE_URL (a PostgreSQL server)");
  }
  return kind;
}

function metricsTokenFrom(raw: string | undefined): string | null {
  if (!raw) return null;
  if (raw.length < 16 || /\s/.test(raw)) {
    throw new ConfigError("INFERNET_METRICS_TOKEN must be at least 16 characters, without spaces");
  }
  return raw;
}

/** Parses the control plane's configuration from the environment and command-line flags. */
export function parseWebConfig(env: Record<string, string | undefined>, args: string[]): WebConfig {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        port: { type: "string" },
        hostname: { type: "string" },
        "data-dir": { type: "string" },
        "local-node": { type: "boolean" },
        "no-local-node": { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const logLevel = env.INFERNET_LOG_LEVEL ?? "warn";
  if (!isLogLevel(logLevel)) throw new ConfigError(`INFERNET_LOG_LEVEL: unknown level '${logLevel}'`);
  const publicUrl = env.INFERNET_PUBLIC_URL?.replace(/\/+$/, "") || null;
  if (publicUrl && !/^https?:\/\/[^/]+$/.test(publicUrl)) {
    throw new ConfigError(`INFERNET_PUBLIC_URL must be a scheme and host, like https://infernet.example`);
  }
  const databaseUrl = env.DATABASE_URL || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError("DATABASE_URL must start with postgres:// or postgresql://");
  }
  const dataDir = flags["data-dir"] ?? env.INFERNET_DATA_DIR ?? "./data";
  const journal = env.INFERNET_JOURNAL_DIR || `${dataDir}/journal`;
  return {
    hostname: flags.hostname ?? env.INFERNET_HOSTNAME ?? "127.0.0.1",
    port: intFrom("PORT", flags.port ?? env.PORT, 8787),
    dataDir,
    databaseUrl,
    kv: env.INFERNET_KV || null,
    sharedState: sharedStateFrom(env.INFERNET_SHARED_STATE, databaseUrl),
    drainDelayMs: intFrom("INFERNET_DRAIN_DELAY_MS", env.INFERNET_DRAIN_DELAY_MS, 5_000),
    drainTimeoutMs: intFrom("INFERNET_DRAIN_TIMEOUT_MS", env.INFERNET_DRAIN_TIMEOUT_MS, 120_000),
    natsUrl: natsUrlFrom(env.INFERNET_NATS_URL),
    natsPrefix: natsPrefixFrom(env.INFERNET_NATS_PREFIX),
    relays: relaysFrom(env.INFERNET_RELAYS),
    journalDir: journal === "off" ? null : journal,
    platformKeyFile: env.INFERNET_PLATFORM_KEY_FILE || `${dataDir}/platform.key`,
    receiptWaitMs: intFrom("INFERNET_RECEIPT_WAIT_MS", env.INFERNET_RECEIPT_WAIT_MS, 5000, 0),
    ticketTtlS: intFrom("INFERNET_TICKET_TTL_S", env.INFERNET_TICKET_TTL_S, 60, 1),
    directAckWaitMs: intFrom("INFERNET_DIRECT_ACK_WAIT_MS", env.INFERNET_DIRECT_ACK_WAIT_MS, 30_000, 0),
    settleLingerMs: intFrom("INFERNET_SETTLE_LINGER_MS", env.INFERNET_SETTLE_LINGER_MS, 100, 0),
    pgliteIdle: env.INFERNET_PGLITE_IDLE !== "0",
    publicUrl,
    logLevel,
    localNode: flags["no-local-node"] ? false : flags["local-node"] ?? env.INFERNET_LOCAL_NODE !== "0",
    nodeStaleMs: intFrom("INFERNET_NODE_STALE_MS", env.INFERNET_NODE_STALE_MS, 90_000, 1),
    explorationShare: shareFrom("INFERNET_EXPLORATION_SHARE", env.INFERNET_EXPLORATION_SHARE, 0.05),
    suspicionThreshold: shareFrom("INFERNET_SUSPICION_THRESHOLD", env.INFERNET_SUSPICION_THRESHOLD, 0.9),
    firstTokenTimeoutMs: intFrom(
      "INFERNET_FIRST_TOKEN_TIMEOUT_MS",
      env.INFERNET_FIRST_TOKEN_TIMEOUT_MS,
      60_000,
      1,
    ),
    streamIdleTimeoutMs: intFrom(
      "INFERNET_STREAM_IDLE_TIMEOUT_MS",
      env.INFERNET_STREAM_IDLE_TIMEOUT_MS,
      60_000,
      1,
    ),
    jobTimeoutMs: intFrom("INFERNET_JOB_TIMEOUT_MS", env.INFERNET_JOB_TIMEOUT_MS, 600_000, 1),
    keyRateLimitPerSec: intFrom("INFERNET_KEY_RATE_LIMIT", env.INFERNET_KEY_RATE_LIMIT, 50),
    keyCreationPerMinute: intFrom("INFERNET_KEY_CREATION_PER_MIN", env.INFERNET_KEY_CREATION_PER_MIN, 10),
    feeBps: feeBpsFrom(env.INFERNET_FEE_BPS),
    defaultMaxTokens: intFrom("INFERNET_DEFAULT_MAX_TOKENS", env.INFERNET_DEFAULT_MAX_TOKENS, 4096, 1),
    minDepositCents: centsFrom("INFERNET_MIN_DEPOSIT_USD", env.INFERNET_MIN_DEPOSIT_USD, 100),
    maxDepositCents: centsFrom("INFERNET_MAX_DEPOSIT_USD", env.INFERNET_MAX_DEPOSIT_USD, 1_000_000),
    minPayoutCents: centsFrom("INFERNET_MIN_PAYOUT_USD", env.INFERNET_MIN_PAYOUT_USD, 1000),
    autoPayoutCents: centsFrom("INFERNET_AUTO_PAYOUT_USD", env.INFERNET_AUTO_PAYOUT_USD, 5000),
    coinPayPortal: coinPayPortalFrom(env),
    devCreditCents: centsFrom("INFERNET_DEV_CREDIT_USD", env.INFERNET_DEV_CREDIT_USD, 500),
    sessionSecret: sessionSecretFrom(env.INFERNET_SESSION_SECRET),
    sessionTtlS: intFrom("INFERNET_SESSION_TTL_S", env.INFERNET_SESSION_TTL_S, 3600, 60),
    metricsToken: metricsTokenFrom(env.INFERNET_METRICS_TOKEN),
    canaryRate: shareFrom("INFERNET_CANARY_RATE", env.INFERNET_CANARY_RATE, 0.01),
    canaryFloorMs: intFrom("INFERNET_CANARY_FLOOR_MINUTES", env.INFERNET_CANARY_FLOOR_MINUTES, 30, 1) *
      60_000,
    reputationHalfLifeS: intFrom(
      "INFERNET_REPUTATION_HALF_LIFE_S",
      env.INFERNET_REPUTATION_HALF_LIFE_S,
      DEFAULT_REPUTATION_HALF_LIFE_S,
      1,
    ),
    reputationRefreshMs: intFrom(
      "INFERNET_REPUTATION_REFRESH_MS",
      env.INFERNET_REPUTATION_REFRESH_MS,
      600_000,
    ),
  };
}
