// A control plane for tests: in-memory PGlite and KV, quiet logs, fast timeouts; optionally
// served on a free loopback port.
import {
  applyPaymentEvent,
  createApiKey,
  type Database,
  insertPayment,
  openDatabase,
  type Sql,
} from "../db/mod.ts";
import { createLogger, NANO_USD_PER_USD } from "../shared/mod.ts";
import { parseWebConfig, type WebConfig } from "./config.ts";
import { type ControlPlane, openControlPlane, type OpenControlPlaneOptions } from "./control_plane.ts";
import { type RunningServer, serveControlPlane } from "./main.ts";

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
  } = {},
): Promise<TestControlPlane> {
  const config: WebConfig = {
    ...parseWebConfig({ INFERNET_LOG_LEVEL: Deno.env.get("INFERNET_TEST_LOG_LEVEL") ?? "silent" }, []),
    localNode: false,
    keyRateLimitPerSec: 0,
    ...opts.config,
  };
  const db = opts.db ?? await openDatabase();
  const kv = await Deno.openKv(":memory:");
  const cp = await openControlPlane(config, {
    db,
    kv,
    log: createLogger({ level: config.logLevel }),
    processor: opts.processor,
    webhookSecret: opts.webhookSecret,
  });
  const server = opts.serve ? await serveControlPlane(cp, { hostname: "127.0.0.1", port: 0 }) : null;
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
    },
  };
}

/**
 * Creates an API key with a starting balance, credited as a confirmed deposit through the same
 * ledger path as a real payment, so tests that are not about money can run jobs.
 */
export async function createTestKey(sql: Sql, fundNanoUsd: bigint): Promise<{ key: string; id: bigint }> {
  const { key, row } = await createApiKey(sql, { label: "test" });
  if (fundNanoUsd > 0n) {
    const id = `test-deposit-${row.id}`;
    await insertPayment(sql, {
      id,
      apiKeyId: row.id,
      amount: fundNanoUsd,
      coin: "USDC_SOL",
      paymentAddress: "test",
      cryptoAmount: "0",
      qrCode: "",
      status: "pending",
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    await applyPaymentEvent(sql, {
      eventId: `evt_${id}`,
      type: "payment.confirmed",
      paymentId: id,
      status: "confirmed",
      txHash: null,
    });
  }
  return { key, id: row.id };
}
