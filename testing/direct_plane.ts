// A test control plane for direct mode: nodes registered and attached in-process on fake
// sockets that record what the server sent them, their receipt chains loaded, and helpers to
// route a job, sign the node's receipt and the consumer's ack.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import type { Database } from "../db/mod.ts";
import { createLogger, createNodeReceipt, createNodeRecord, verifyNodeRecord } from "../shared/mod.ts";
import { createUsageAck } from "../shared/direct/acks.ts";
import type { NodeAdvert } from "../shared/nostr/node_record.ts";
import { createApp } from "../web/app.ts";
import type { WebConfig } from "../web/config.ts";
import { NodeConnection } from "../web/dispatch/node_connection.ts";
import { openTestControlPlane, type TestControlPlane } from "./control_plane.ts";
import { sampleAdvert } from "./node_advert.ts";

/** A node on a fake socket. */
export interface FakeDirectNode {
  sk: Uint8Array;
  pubkey: string;
  conn: NodeConnection;
  /** Every frame the server sent it, parsed. */
  sent: Record<string, unknown>[];
  /** Called with each frame the server sends (after it is recorded). */
  onFrame: ((frame: Record<string, unknown>) => void) | null;
  /** Its receipts' chain so far. */
  seq: number;
  prev: string | null;
}

/** What {@link openDirectPlane} returns. */
export interface DirectPlane {
  t: TestControlPlane;
  app: ReturnType<typeof createApp>;
  nodes: FakeDirectNode[];
  /** POST /v1/route with the test key (or `apiKey`). */
  route(body: Record<string, unknown>, apiKey?: string): Promise<Response>;
  /** Signs the node's receipt of a job and hands it to the server as its socket would. */
  nodeReceipt(
    node: FakeDirectNode,
    jobId: string,
    usage: { prompt_tokens: number; completion_tokens: number } | null,
    artifactHash: string | null,
  ): Promise<{ ok: boolean }>;
  /** POST /v1/route/:job/usage with an ack signed by `consumerKey`. */
  ack(
    jobId: string,
    consumerKey: Uint8Array,
    content: Partial<AckFields> & { node: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

interface AckFields {
  prompt_tokens: number;
  completion_tokens: number;
  artifact_hash: string | null;
}

/** Opens the plane on `db` with `count` nodes (model "m", no endpoint unless the advert says). */
export async function openDirectPlane(
  db: Database,
  opts: { count?: number; config?: Partial<WebConfig>; advert?: Partial<NodeAdvert>; serve?: boolean } = {},
): Promise<DirectPlane> {
  const t = await openTestControlPlane({
    db,
    serve: opts.serve,
    config: { directAckWaitMs: 1_000, ...opts.config },
  });
  const nodes: FakeDirectNode[] = [];
  for (let i = 0; i < (opts.count ?? 1); i++) {
    const sk = generateSecretKey();
    const pubkey = getPublicKey(sk);
    const record = verifyNodeRecord(createNodeRecord(sk, sampleAdvert({ nodeId: `n${i}`, ...opts.advert })));
    assert.ok(record.ok);
    await t.cp.registry.register(record.record);
    const node: FakeDirectNode = {
      sk,
      pubkey,
      sent: [],
      onFrame: null,
      seq: 0,
      prev: null,
    } as unknown as FakeDirectNode;
    node.conn = new NodeConnection(pubkey, {
      send(text) {
        const frame = JSON.parse(text);
        node.sent.push(frame);
        node.onFrame?.(frame);
      },
      close() {},
    }, createLogger({ level: "silent" }));
    t.cp.registry.attach(pubkey, node.conn);
    await t.cp.receipts.head(pubkey);
    nodes.push(node);
  }
  const app = createApp(t.cp);
  return {
    t,
    app,
    nodes,
    route: (body, apiKey = t.apiKey) =>
      Promise.resolve(app.request("http://control.test/v1/route", {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      })),
    async nodeReceipt(node, jobId, usage, artifactHash) {
      const event: NostrEvent = createNodeReceipt(node.sk, {
        task_id: jobId,
        category: "inference:chat",
        model: "m",
        outcome: "success",
        artifact_hash: artifactHash,
        usage,
        ttft_ms: 5,
        duration_ms: 20,
        seq: node.seq + 1,
        prev: node.prev,
        created_at: Math.floor(Date.now() / 1000),
      });
      const answer = await t.cp.receipts.nodeReceipt(node.pubkey, event);
      if (answer.ok) {
        node.seq++;
        node.prev = event.id;
      }
      return { ok: answer.ok };
    },
    ack: (jobId, consumerKey, content) =>
      Promise.resolve(app.request(`http://control.test/v1/route/${jobId}/usage`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(createUsageAck(consumerKey, {
          job_id: jobId,
          prompt_tokens: 10,
          completion_tokens: 20,
          artifact_hash: "ab".repeat(32),
          created_at: Math.floor(Date.now() / 1000),
          ...content,
        })),
      })),
    close: () => t.close(),
  };
}
