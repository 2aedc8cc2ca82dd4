// The node registry: verified node records (persisted in KV), their heartbeats, their job
// sockets and their track record. The router reads it from memory, never from storage.
import { type HeartbeatBody, type VerifiedNodeRecord, verifyNodeRecord } from "../../shared/mod.ts";
import type { NodeConnection } from "../dispatch/node_connection.ts";
import { type NodeReputation, priorReputation } from "./node_reputation.ts";

export { LOW_DATA_SAMPLES, type NodeReputation, priorReputation } from "./node_reputation.ts";

/** How a node has done on this server: feeds the router's ranking. */
export interface NodeStats {
  successes: number;
  failures: number;
  /** Exponentially weighted time to first token, ms; null before the first job. */
  ttftEwmaMs: number | null;
}

/** Everything the router knows about one node. */
export interface LiveNode {
  record: VerifiedNodeRecord;
  lastHeartbeatAt: number;
  heartbeat: HeartbeatBody | null;
  connection: NodeConnection | null;
  stats: NodeStats;
  /** Computed from receipts and verification (setReputation); the prior until then. */
  reputation?: NodeReputation;
}

const EWMA_WEIGHT = 0.2;

/** Registered nodes, in memory, backed by KV for restarts and other instances. */
export class NodeRegistry {
  #nodes = new Map<string, LiveNode>();
  #kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Loads (and re-verifies) the records stored in KV. */
  async load(): Promise<number> {
    let n = 0;
    for await (const entry of this.#kv.list<unknown>({ prefix: ["nodes"] })) {
      const result = verifyNodeRecord(entry.value);
      if (!result.ok) continue;
      this.#nodes.set(result.record.pubkey, {
        record: result.record,
        lastHeartbeatAt: 0,
        heartbeat: null,
        connection: null,
        stats: { successes: 0, failures: 0, ttftEwmaMs: null },
        reputation: priorReputation(),
      });
      n++;
    }
    return n;
  }

  /** The node with this public key, if registered. */
  get(pubkey: string): LiveNode | undefined {
    return this.#nodes.get(pubkey);
  }

  /** All registered nodes. */
  all(): LiveNode[] {
    return [...this.#nodes.values()];
  }

  /** Replaces a node's reputation (the reputation computation calls it); false when unknown. */
  setReputation(pubkey: string, reputation: NodeReputation): boolean {
    const node = this.#nodes.get(pubkey);
    if (!node) return false;
    node.reputation = { ...reputation };
    return true;
  }

  /** Stores a newer record for a node (a registration counts as a heartbeat). */
  async register(record: VerifiedNodeRecord, nowMs = Date.now()): Promise<"created" | "updated"> {
    await this.#kv.set(["nodes", record.pubkey], record.event);
    const existing = this.#nodes.get(record.pubkey);
    if (existing) {
      existing.record = record;
      existing.lastHeartbeatAt = nowMs;
      // As a heartbeat, a registration says the record's models are served now.
      if (existing.heartbeat) {
        existing.heartbeat = {
          ...existing.heartbeat,
          models: record.models.map((m) => m.id),
        };
      }
      return "updated";
    }
    this.#nodes.set(record.pubkey, {
      record,
      lastHeartbeatAt: nowMs,
      heartbeat: null,
      connection: null,
      stats: { successes: 0, failures: 0, ttftEwmaMs: null },
      reputation: priorReputation(),
    });
    return "created";
  }

  /** Records a heartbeat; false when the node is not registered. */
  heartbeat(pubkey: string, body: HeartbeatBody, nowMs = Date.now()): boolean {
    const node = this.#nodes.get(pubkey);
    if (!node) return false;
    node.lastHeartbeatAt = nowMs;
    node.heartbeat = body;
    return true;
  }

  /** Attaches a node's job socket, closing any older one. */
  attach(pubkey: string, connection: NodeConnection, nowMs = Date.now()): boolean {
    const node = this.#nodes.get(pubkey);
    if (!node) return false;
    if (node.connection && node.connection !== connection) {
      node.connection.close("replaced by a new connection");
    }
    node.connection = connection;
    node.lastHeartbeatAt = Math.max(node.lastHeartbeatAt, nowMs);
    return true;
  }

  /** Detaches a socket if it is still the node's current one. */
  detach(pubkey: string, connection: NodeConnection): void {
    const node = this.#nodes.get(pubkey);
    if (node?.connection === connection) node.connection = null;
  }

  /** Records a job's outcome on the node's track record. */
  recordOutcome(pubkey: string, ok: boolean, ttftMs: number | null): void {
    const stats = this.#nodes.get(pubkey)?.stats;
    if (!stats) return;
    if (ok) stats.successes++;
    else stats.failures++;
    if (ok && ttftMs !== null) {
      stats.ttftEwmaMs = stats.ttftEwmaMs === null
        ? ttftMs
        : stats.ttftEwmaMs * (1 - EWMA_WEIGHT) + ttftMs * EWMA_WEIGHT;
    }
  }
}
