// Several control planes in one test process, sharing one fresh PostgreSQL database and one NATS
// server under a prefix of their own (buckets destroyed and database dropped on close), and nodes
// attached in-process to any of them with a real NodeConnection, streaming the engine's answer
// frame by frame and noting the cancels they get.
import postgres from "postgres";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createLogger, createNodeRecord, type NodeFrame, verifyNodeRecord } from "../shared/mod.ts";
import type { NodeAdvert } from "../shared/nostr/node_record.ts";
import { migrate, openDatabase } from "../db/mod.ts";
import type { ControlPlane } from "../web/control_plane.ts";
import type { WebConfig } from "../web/config.ts";
import { clusterNames } from "../web/cluster/mod.ts";
import { NodeConnection } from "../web/dispatch/node_connection.ts";
import { POSTGRES_AVAILABLE, POSTGRES_URL, REQUIRE_POSTGRES } from "./databases.ts";
import { openTestControlPlane, type TestControlPlane } from "./control_plane.ts";
import { sampleAdvert } from "./node_advert.ts";

/** The NATS server the cluster tests use. */
export const NATS_URL = Deno.env.get("INFERNET_TEST_NATS_URL") ?? "nats://127.0.0.1:4222";

async function natsAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout: 1000, reconnect: false });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

/** Whether NATS answered when the tests started. */
export const NATS_AVAILABLE = await natsAnswers(NATS_URL);

/** Why the cluster tests cannot run here (NATS or PostgreSQL silent), or null when both answered. */
export const CLUSTER_SERVICES_MISSING = !NATS_AVAILABLE
  ? `NATS at ${NATS_URL} did not answer`
  : !POSTGRES_AVAILABLE
  ? `PostgreSQL at ${POSTGRES_URL} did not answer`
  : null;

/**
 * A test that needs NATS and PostgreSQL: skipped (and said once per file) where either is silent,
 * failed instead where PostgreSQL is required (CI).
 */
export function clusterTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: CLUSTER_SERVICES_MISSING !== null && !REQUIRE_POSTGRES,
    async fn() {
      if (CLUSTER_SERVICES_MISSING) {
        throw new Error(`cluster tests need NATS and PostgreSQL: ${CLUSTER_SERVICES_MISSING}`);
      }
      await fn();
    },
  });
}
if (CLUSTER_SERVICES_MISSING) console.error(`cluster tests skipped: ${CLUSTER_SERVICES_MISSING}`);

/** A new, migrated PostgreSQL database beside POSTGRES_URL's; `drop()` removes it. */
export async function freshClusterDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `infernet_cluster_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const u = new URL(POSTGRES_URL);
  u.pathname = `/${name}`;
  const db = await openDatabase({ url: u.href, max: 1 });
  try {
    await migrate(db.sql);
  } finally {
    await db.close();
  }
  return {
    url: u.href,
    async drop() {
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end({ timeout: 1 });
      }
    },
  };
}

/** A unique NATS prefix for one test's deployment (its subjects and KV buckets). */
export function freshClusterPrefix(): string {
  return `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** Deletes the KV buckets a deployment under `prefix` created on the test NATS server. */
export async function destroyClusterBuckets(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const kvm = new Kvm(nc);
    const names = clusterNames(prefix);
    for (const bucket of [names.presenceBucket, names.recordsBucket, names.leaseBucket]) {
      await (await kvm.open(bucket)).destroy().catch(() => {});
    }
  } finally {
    await nc.close();
  }
}

/** Control planes served on free ports, all in one deployment. */
export interface TestCluster {
  planes: TestControlPlane[];
  prefix: string;
  /** The shared database (for instances started as processes: testing/cluster_instance_main.ts). */
  databaseUrl: string;
  close(): Promise<void>;
}

/** Opens `n` served control planes sharing a fresh database and a fresh NATS prefix. */
export async function openTestCluster(
  n: number,
  config: Partial<WebConfig> = {},
  opts: { canaries?: boolean } = {},
): Promise<TestCluster> {
  const database = await freshClusterDatabase();
  const prefix = freshClusterPrefix();
  const planes: TestControlPlane[] = [];
  const dbs: { close(): Promise<void> }[] = [];
  const close = async () => {
    for (const p of planes) await p.close().catch((err) => console.error("control plane close failed", err));
    for (const db of dbs) await db.close().catch(() => {});
    await destroyClusterBuckets(prefix);
    await database.drop();
  };
  try {
    for (let i = 0; i < n; i++) {
      const db = await openDatabase({ url: database.url, max: 4 });
      dbs.push(db);
      planes.push(
        await openTestControlPlane({
          serve: true,
          db,
          canaries: opts.canaries,
          config: { natsUrl: NATS_URL, natsPrefix: prefix, ...config },
        }),
      );
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { planes, prefix, databaseUrl: database.url, close };
}

/** A node attached to one control plane of a cluster. */
export interface ClusterTestNode {
  pubkey: string;
  conn: NodeConnection;
  /** The job ids it was sent, and those it was told to cancel, in order. */
  jobs: string[];
  cancels: string[];
  /** The direct-mode tickets announced to it ahead of their requests (`ticket` frames), in order. */
  tickets: unknown[];
  /** Drops its socket, as a node that died would. */
  kill(): void;
}

/**
 * Registers a node on `cp` and attaches it there; its jobs go to `engine` (the test engine's
 * handler), a stream's events are sent as they come, and a cancel aborts the engine request.
 */
export async function attachClusterNode(
  cp: ControlPlane,
  engine: (req: Request) => Promise<Response>,
  advert: Partial<NodeAdvert> = {},
  /** The node's key (a node reconnecting to another instance keeps its own). */
  secretKey: Uint8Array = generateSecretKey(),
): Promise<ClusterTestNode> {
  const pubkey = getPublicKey(secretKey);
  const record = verifyNodeRecord(
    createNodeRecord(secretKey, sampleAdvert({ maxConcurrency: 8, ...advert })),
  );
  if (!record.ok) throw new Error(`the test node's record is invalid: ${record.reason}`);
  await cp.registry.register(record.record);
  const jobs: string[] = [];
  const cancels: string[] = [];
  const tickets: unknown[] = [];
  const running = new Map<string, AbortController>();
  const emit = (f: NodeFrame) => conn.open && conn.handleFrame(f);
  const run = async (job: { job_id: string; kind: string; body: unknown }) => {
    const abort = new AbortController();
    running.set(job.job_id, abort);
    try {
      const path = job.kind === "chat" ? "/v1/chat/completions" : "/v1/embeddings";
      const res = await engine(
        new Request(`http://engine.test${path}`, {
          method: "POST",
          body: JSON.stringify(job.body),
          signal: abort.signal,
        }),
      );
      if (!res.headers.get("content-type")?.startsWith("text/event-stream")) {
        return emit({ type: "response", job_id: job.job_id, status: res.status, body: await res.text() });
      }
      let buffer = "";
      for await (const text of res.body!.pipeThrough(new TextDecoderStream())) {
        buffer += text;
        const events = buffer.split("\n\n");
        buffer = events.pop()!;
        const data = events.filter((l) => l.startsWith("data: ") && l !== "data: [DONE]").map((l) =>
          l.slice(6)
        );
        if (data.length) emit({ type: "chunks", job_id: job.job_id, data });
      }
      emit({ type: "end", job_id: job.job_id });
    } catch (err) {
      if (!abort.signal.aborted) {
        emit({ type: "fail", job_id: job.job_id, code: "engine_error", message: String(err), started: true });
      }
    } finally {
      running.delete(job.job_id);
    }
  };
  const conn: NodeConnection = new NodeConnection(pubkey, {
    send(text) {
      const frame = JSON.parse(text);
      if (frame.type === "job") {
        jobs.push(frame.job_id);
        void run(frame);
      } else if (frame.type === "cancel") {
        cancels.push(frame.job_id);
        running.get(frame.job_id)?.abort();
      } else if (frame.type === "ticket") {
        tickets.push(frame.ticket);
      }
    },
    close() {
      for (const a of running.values()) a.abort();
    },
  }, createLogger({ level: "silent" }));
  cp.registry.attach(pubkey, conn);
  return {
    pubkey,
    conn,
    jobs,
    cancels,
    tickets,
    kill() {
      conn.close("node socket closed");
      cp.registry.detach(pubkey, conn);
    },
  };
}

/** Polls `check` every 10 ms until it holds; fails after `ms` naming what was awaited. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
