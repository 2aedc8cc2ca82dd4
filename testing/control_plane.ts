// A control plane for tests: in-memory PGlite and KV, quiet logs, fast timeouts; optionally
// served on a free loopback port.
import type { Database } from "../db/mod.ts";
import { openMigratedPglite } from "./databases.ts";
import { createTestKey } from "./funding.ts";
import { createLogger, type Logger, NANO_USD_PER_USD } from "../shared/mod.ts";
import { type FakeCoinPayPortal, startFakeCoinPayPortal } from "./fake_coinpayportal.ts";
import { CoinPayPortal } from "../web/payments/coinpayportal.ts";
import { parseWebConfig, type WebConfig } from "../web/config.ts";
import { type ControlPlane, openControlPlane, type OpenControlPlaneOptions } from "../web/control_plane.ts";
import { type RunningServer, serveControlPlane } from "../web/main.ts";

/** A test control plane, its server (if asked), a funded API key, and one close for all. */
export interface TestControlPlane {
  cp: ControlPlane;
  server: RunningServer | null;
  apiKey: string;
  close(): Promise<void>;
}

/** Opens a control plane on in-memory storage; `serve` puts it on a free port. */
export async function openTestControlPlane(
  opts: {
    serve?: boolean;
    config?: Partial<WebConfig>;
    processor?: OpenControlPlaneOptions["processor"];
    webhookSecret?: string | null;
    /** A database to use (closed by the caller) instead of a fresh in-memory PGlite. */
    db?: Database;
    /** The test key's starting balance (nano-USD; default 100 USD). */
    fundNanoUsd?: bigint;
    /** The control plane's logger (default: at the config's level, on stderr). */
    log?: Logger;
    /** Served with its canary scheduler (among several instances, on the lease's holder). */
    canaries?: boolean;
  } = {},
): Promise<TestControlPlane> {
  const config: WebConfig = {
    ...parseWebConfig({ INFERNET_LOG_LEVEL: Deno.env.get("INFERNET_TEST_LOG_LEVEL") ?? "silent" }, []),
    localNode: false,
    keyRateLimitPerSec: 0,
    journalDir: await Deno.makeTempDir({ prefix: "infernet-journal-" }),
    platformKeyFile: null,
    // Background threads at normal priority in tests (no chrt per control plane).
    pgliteIdle: false,
    ...opts.config,
  };
  const db = opts.db ?? await openMigratedPglite();
  const kv = await Deno.openKv(":memory:");
  const cp = await openControlPlane(config, {
    db,
    kv,
    log: opts.log ?? createLogger({ level: config.logLevel }),
    processor: opts.processor,
    webhookSecret: opts.webhookSecret,
  });
  const server = opts.serve
    ? await serveControlPlane(cp, { hostname: "127.0.0.1", port: 0, canaries: opts.canaries })
    : null;
  const { key } = await createTestKey(db.sql, opts.fundNanoUsd ?? 100n * NANO_USD_PER_USD);
  return {
    cp,
    server,
    apiKey: key,
    async close() {
      await server?.shutdown();
      await cp.close();
      kv.close();
      if (!opts.db) await db.close();
      if (config.journalDir) await Deno.remove(config.journalDir, { recursive: true }).catch(() => {});
    },
  };
}

export { createTestKey };

/** A served test control plane paying through a fake CoinPayPortal, and one close for both. */
export interface PaymentsTestEnv {
  fake: FakeCoinPayPortal;
  tcp: TestControlPlane;
  url: string;
  close(): Promise<void>;
}

/**
 * Starts a fake CoinPayPortal and a served control plane wired to it through the real adapter
 * (business id checked, webhooks delivered to `/api/webhooks/coinpay`); its test key is unfunded.
 */
export async function openPaymentsTestControlPlane(
  processor: { apiKey: string; businessId: string; webhookSecret: string },
  /** A database to use (closed by the caller) instead of a fresh in-memory PGlite. */
  db?: Database,
): Promise<PaymentsTestEnv> {
  const { apiKey, businessId, webhookSecret } = processor;
  const fake = await startFakeCoinPayPortal({ apiKey, businessId, webhookSecret, retryDelaysMs: [10, 10] });
  const tcp = await openTestControlPlane({
    serve: true,
    processor: new CoinPayPortal({ baseUrl: fake.url, apiKey, businessId }),
    webhookSecret,
    config: { coinPayPortal: { url: fake.url, apiKey, businessId, webhookSecret } },
    fundNanoUsd: 0n,
    db,
  });
  const url = tcp.server!.url;
  fake.setWebhookUrl(`${url}/api/webhooks/coinpay`);
  return {
    fake,
    tcp,
    url,
    async close() {
      await tcp.close();
      await fake.close();
    },
  };
}
