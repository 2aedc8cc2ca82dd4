// The node registry: verified node records (persisted in KV), their heartbeats, their job
// sockets, their track record and reputation. The router reads it from memory, never from
// storage, and only the nodes serving the requested model (an index kept on every registration).
import { type HeartbeatBody, type VerifiedNodeRecord, verifyNodeRecord } from "../../shared/mod.ts";
import type { NodeLink } from "../dispatch/node_link.ts";
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
  connection: NodeLink | null;
  stats: NodeStats;
  /** Computed from receipts and verification (setReputation); the prior until then. */
  reputation: NodeReputation;
}

/**
 * What the registry tells a listener about changes made on this instance (the cluster's presence
 * publishes them to the other instances; web/cluster/presence.ts).
 */
export interface RegistryListener {
  registered(record: VerifiedNodeRecord): void;
  heartbeat(pubkey: string, body: HeartbeatBody, atMs: number): void;
  attached(pubkey: string, link: NodeLink): void;
  detached(pubkey: string, link: NodeLink): void;
}

const EWMA_WEIGHT = 0.2;

const NONE: readonly LiveNode[] = Object.freeze([]);

function newNode(record: VerifiedNodeRecord, lastHeartbeatAt: number): LiveNode {
  return {
    record,
    lastHeartbeatAt,
    heartbeat: null,
    connection: null,
    stats: { successes: 0, failures: 0, ttftEwmaMs: null },
    reputation: priorReputation(),
  };
}

/** Registered nodes, in memory, backed by KV for restarts and other instances. */
export class NodeRegistry {
  #nodes = new Map<string, LiveNode>();
  /** Model id → the nodes whose record lists it, so a route decision reads only those. */
  #byModel = new Map<string, LiveNode[]>();
  /** Model id → a number that changes whenever its nodes or their records do. */
  #versions = new Map<string, number>();
  /** Model id → a number that changes whenever one of its nodes gets a new reputation. */
  #reputationVersions = new Map<string, number>();
  #clock = 0;
  #kv: Deno.Kv;
  #listeners: RegistryListener[] = [];

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Loads (and re-verifies) the records stored in KV. */
  async load(): Promise<number> {
    let n = 0;
    for await (const entry of this.#kv.list<unknown>({ prefix: ["nodes"] })) {
      const result = verifyNodeRecord(entry.value);
      if (!result.ok) continue;
      const existing = this.#nodes.get(result.record.pubkey);
      if (existing) this.#setRecord(existing, result.record);
      else this.#add(newNode(result.record, 0));
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

  /** The registered nodes whose record lists `model` (live or not); do not modify the array. */
  serving(model: string): readonly LiveNode[] {
    return this.#byModel.get(model) ?? NONE;
  }

  /**
   * A number that changes whenever the nodes serving `model` or their records change, so what is
   * derived from them (the router's orders) knows when to derive it again.
   */
  servingVersion(model: string): number {
    return this.#versions.get(model) ?? 0;
  }

  /** A number that changes whenever a node serving `model` gets a new reputation. */
  reputationVersion(model: string): number {
    return this.#reputationVersions.get(model) ?? 0;
  }

  /** Replaces a node's reputation (the reputation computation calls it); false when unknown. */
  setReputation(pubkey: string, reputation: NodeReputation): boolean {
    const node = this.#nodes.get(pubkey);
    if (!node) return false;
    node.reputation = { ...reputation };
    for (const m of node.record.models) this.#reputationVersions.set(m.id, ++this.#clock);
    return true;
  }

  #touch(model: string): void {
    this.#versions.set(model, ++this.#clock);
  }

  /** Tells `listener` of every registration, heartbeat, attach and detach made from now on. */
  listen(listener: RegistryListener): void {
    this.#listeners.push(listener);
  }

  /** Stores a newer record for a node (a registration counts as a heartbeat). */
  async register(record: VerifiedNodeRecord, nowMs = Date.now()): Promise<"created" | "updated"> {
    await this.#kv.set(["nodes", record.pubkey], record.event);
    const status = this.adopt(record, nowMs);
    for (const l of this.#listeners) l.registered(record);
    return status;
  }

  /** Takes a record another instance stored (in memory only, and told to no listener). */
  adopt(record: VerifiedNodeRecord, nowMs = Date.now()): "created" | "updated" {
    const existing = this.#nodes.get(record.pubkey);
    if (existing) {
      this.#setRecord(existing, record);
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
    this.#add(newNode(record, nowMs));
    return "created";
  }

  #add(node: LiveNode): void {
    this.#nodes.set(node.record.pubkey, node);
    for (const id of modelIds(node.record)) this.#index(id, node);
  }

  // A new record may drop models and add others: the index follows, touching only what changed.
  #setRecord(node: LiveNode, record: VerifiedNodeRecord): void {
    const before = modelIds(node.record);
    const after = modelIds(record);
    node.record = record;
    for (const id of before) if (!after.has(id)) this.#unindex(id, node);
    for (const id of after) {
      if (!before.has(id)) this.#index(id, node);
      else this.#touch(id); // its price, window or quantization may have changed
    }
  }

  #index(model: string, node: LiveNode): void {
    const list = this.#byModel.get(model);
    if (list) list.push(node);
    else this.#byModel.set(model, [node]);
    this.#touch(model);
  }

  #unindex(model: string, node: LiveNode): void {
    const list = this.#byModel.get(model);
    if (!list) return;
    const i = list.indexOf(node);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.#byModel.delete(model);
    this.#touch(model);
  }

  /** Records a heartbeat; false when the node is not registered. `quiet`: told to no listener. */
  heartbeat(
    pubkey: string,
    body: HeartbeatBody,
    nowMs = Date.now(),
    opts: { quiet?: boolean } = {},
  ): boolean {
    const node = this.#nodes.get(pubkey);
    if (!node) return false;
    node.lastHeartbeatAt = nowMs;
    node.heartbeat = body;
    if (!opts.quiet) { for (const l of this.#listeners) l.heartbeat(pubkey, body, nowMs); }
    return true;
  }

  /** Attaches a node's job socket, closing any older one. */
  attach(pubkey: string, connection: NodeLink, nowMs = Date.now()): boolean {
    const node = this.#nodes.get(pubkey);
    if (!node) return false;
    if (node.connection && node.connection !== connection) {
      node.connection.close("replaced by a new connection");
    }
    node.connection = connection;
    node.lastHeartbeatAt = Math.max(node.lastHeartbeatAt, nowMs);
    for (const l of this.#listeners) l.attached(pubkey, connection);
    return true;
  }

  /** Detaches a socket if it is still the node's current one. */
  detach(pubkey: string, connection: NodeLink): void {
    const node = this.#nodes.get(pubkey);
    if (node?.connection !== connection) return;
    node.connection = null;
    for (const l of this.#listeners) l.detached(pubkey, connection);
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

function modelIds(record: VerifiedNodeRecord): Set<string> {
  return new Set(record.models.map((m) => m.id));
}
