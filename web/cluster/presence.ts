// Which instance holds which node's socket, shared over NATS so every instance's router sees
// every node. The holder stores the node's record and heartbeat under its key in a KV bucket
// (put on connect, heartbeat and registration; deleted on disconnect); every instance watches the
// bucket and keeps a RemoteLink in its registry for each node held elsewhere, so the route index
// stays an in-memory index fed by these updates. Liveness is per instance: each publishes a beat
// (with its nodes' load) every `beatMs`; an instance silent for `deadMs` is gone, and its nodes
// with it, whatever its entries still say (NATS 2.9 expires KV entries without telling watchers).
import { type HeartbeatBody, type Logger, verifyNodeRecord } from "../../shared/mod.ts";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { NodeConnection } from "../dispatch/node_connection.ts";
import type { NodeLink } from "../dispatch/node_link.ts";
import type { NodeRegistry, RegistryListener } from "../registry/node_registry.ts";
import type { VerifiedNodeRecord } from "../../shared/mod.ts";
import {
  encodeFrame,
  type InboxFrame,
  parseBeat,
  parseHeartbeatFrame,
  parsePresence,
  type PresenceValue,
} from "./cluster_frames.ts";
import { RemoteLink } from "./remote_link.ts";

/** Options of {@link ClusterPresence}. */
export interface PresenceOptions {
  instance: string;
  registry: NodeRegistry;
  log: Logger;
  nc: NatsConnection;
  /** Node key → PresenceValue of the instance holding its socket. */
  presence: KV;
  /** Node key → its signed record, as registered on any instance. */
  records: KV;
  beatSubject: string;
  heartbeatSubject: string;
  send: (instance: string, frame: InboxFrame) => boolean;
  /** Called once for an instance found gone. */
  onInstanceGone: (instance: string) => void;
  beatMs: number;
  deadMs: number;
}

/** The longest a starting instance waits for the buckets' current values before serving. */
const LOAD_WAIT_MS = 10_000;

interface Seen {
  instance: string;
  revision: number;
}

/** This instance's view of every instance's nodes, kept in its registry. */
export class ClusterPresence implements RegistryListener {
  #o: PresenceOptions;
  /** Nodes whose socket is here. */
  #local = new Set<string>();
  /** Nodes held elsewhere → their link. */
  #links = new Map<string, RemoteLink>();
  /** Instance → when it was last heard of (its beat, or its first entry seen). */
  #instances = new Map<string, number>();
  /** Node → the entry last seen for it from another instance (to clean up after a dead one). */
  #seen = new Map<string, Seen>();
  /** Node → the revision of this instance's own entry. */
  #mine = new Map<string, number>();
  /** Node → its pending KV write, so one node's writes happen in order. */
  #writes = new Map<string, Promise<void>>();
  #subs: Subscription[] = [];
  #watchers: { stop(): void }[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  #closed = false;

  constructor(opts: PresenceOptions) {
    this.#o = opts;
  }

  /** Loads what the buckets hold (so the router sees every node from the first request), then follows them. */
  async start(): Promise<void> {
    const o = this.#o;
    // Records first, so that the nodes present elsewhere come with what they serve.
    await this.#load(o.records, (key, value) => {
      if (value) this.#adopt(key, parseJson(value));
    });
    await this.#load(o.presence, (key, value, revision) => this.#presence(key, value, revision));
    this.#subs.push(
      o.nc.subscribe(o.beatSubject, {
        callback: (err, msg) => {
          const beat = err ? null : parseBeat(msg.data);
          if (beat?.bye) this.#gone(beat.i, "shut down");
          else if (beat) this.#beat(beat.i, beat.load);
        },
      }),
      o.nc.subscribe(o.heartbeatSubject, {
        callback: (err, msg) => {
          const hb = err ? null : parseHeartbeatFrame(msg.data);
          if (!hb) return;
          o.registry.heartbeat(hb.node, hb.body, hb.at, { quiet: true });
          if (this.#local.has(hb.node)) this.#put(hb.node);
        },
      }),
    );
    o.registry.listen(this);
    for (const node of o.registry.all()) {
      if (node.connection instanceof NodeConnection && node.connection.open) {
        this.attached(node.record.pubkey, node.connection);
      }
    }
    this.#timer = setInterval(() => this.#tick(), o.beatMs);
    this.#tick();
    void this.#rejoinOnReconnect();
  }

  // After a break longer than `deadMs`, the others dropped this instance and deleted its entries:
  // they are put again at once, rather than at each node's next heartbeat.
  async #rejoinOnReconnect(): Promise<void> {
    for await (const status of this.#o.nc.status()) {
      if (this.#closed) return;
      if (status.type !== "reconnect") continue;
      this.#o.log.info("NATS reconnected; this instance's nodes are put again");
      for (const pubkey of this.#local) this.#put(pubkey);
    }
  }

  /** The instance holding a node's socket, when another one does. */
  holderOf(pubkey: string): string | null {
    const conn = this.#o.registry.get(pubkey)?.connection;
    return conn instanceof RemoteLink ? conn.instance : null;
  }

  /** The link to a node held elsewhere. */
  link(pubkey: string): RemoteLink | undefined {
    return this.#links.get(pubkey);
  }

  /** Instances heard of lately, this one included. */
  instances(): string[] {
    return [this.#o.instance, ...this.#instances.keys()];
  }

  registered(record: VerifiedNodeRecord): void {
    void this.#o.records.put(record.pubkey, JSON.stringify(record.event)).catch((err) =>
      this.#o.log.warn("node record not shared", { pubkey: record.pubkey, err })
    );
    if (this.#local.has(record.pubkey)) this.#put(record.pubkey);
  }

  heartbeat(pubkey: string, body: HeartbeatBody, atMs: number): void {
    if (this.#local.has(pubkey)) return this.#put(pubkey);
    try {
      this.#o.nc.publish(this.#o.heartbeatSubject, encodeFrame({ node: pubkey, at: atMs, body }));
    } catch (err) {
      this.#o.log.warn("heartbeat not shared", { pubkey, err });
    }
  }

  attached(pubkey: string, link: NodeLink): void {
    if (!(link instanceof NodeConnection)) return;
    this.#local.add(pubkey);
    this.#forgetLink(pubkey);
    this.#put(pubkey);
  }

  detached(pubkey: string, link: NodeLink): void {
    if (!(link instanceof NodeConnection)) return;
    this.#local.delete(pubkey);
    this.#remove(pubkey);
    // Another instance's entry, passed over while the socket was here, may be the node's new home.
    const seen = this.#seen.get(pubkey);
    if (seen && this.#instances.has(seen.instance)) this.#linkTo(pubkey, seen.instance, Date.now());
  }

  #put(pubkey: string): void {
    const node = this.#o.registry.get(pubkey);
    if (!node || this.#closed) return;
    const value: PresenceValue = {
      instance: this.#o.instance,
      event: node.record.event,
      heartbeat: node.heartbeat,
      heartbeatAt: node.lastHeartbeatAt,
    };
    this.#write(pubkey, async () => {
      this.#mine.set(pubkey, await this.#o.presence.put(pubkey, encodeFrame(value)));
    });
  }

  #remove(pubkey: string): void {
    this.#write(pubkey, async () => {
      const revision = this.#mine.get(pubkey);
      if (revision === undefined) return;
      this.#mine.delete(pubkey);
      // Only our own entry: the node may have connected to another instance meanwhile.
      await this.#o.presence.delete(pubkey, { previousSeq: revision }).catch(() => {});
    });
  }

  #write(pubkey: string, fn: () => Promise<void>): void {
    const before = this.#writes.get(pubkey) ?? Promise.resolve();
    const after = before.then(fn).catch((err) =>
      this.#o.log.warn("node presence not written", { pubkey, err })
    );
    this.#writes.set(pubkey, after);
    void after.then(() => {
      if (this.#writes.get(pubkey) === after) this.#writes.delete(pubkey);
    });
  }

  /** Applies a bucket's entries as they come; `loaded` is called once what it held at the start is applied. */
  async #follow(
    watcher: AsyncIterable<KvWatchEntry>,
    apply: (key: string, value: Uint8Array | null, revision: number) => void,
    loaded: () => void,
  ): Promise<void> {
    try {
      for await (const e of watcher) {
        try {
          apply(e.key, e.operation === "PUT" ? e.value : null, e.revision);
        } catch (err) {
          this.#o.log.error("cluster update not applied", { key: e.key, err });
        }
        // The watch's first entries are the bucket's values, the last with delta 0.
        if (e.isUpdate || e.delta === 0) loaded();
      }
    } catch (err) {
      if (!this.#closed) this.#o.log.error("cluster watch ended", { err });
    } finally {
      loaded();
    }
  }

  /** Follows a bucket; resolves once its values at the start are applied (at most `LOAD_WAIT_MS`). */
  async #load(
    kv: KV,
    apply: (key: string, value: Uint8Array | null, revision: number) => void,
  ): Promise<void> {
    const watcher = await kv.watch();
    this.#watchers.push(watcher);
    const { values } = await kv.status();
    let loaded!: () => void;
    const done = new Promise<void>((resolve) => (loaded = resolve));
    if (values === 0) loaded();
    void this.#follow(watcher, apply, loaded);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, LOAD_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** A record from another instance, verified once per new event. */
  #adopt(pubkey: string, event: unknown, heartbeatAt = 0): boolean {
    const known = this.#o.registry.get(pubkey);
    const id = (event as { id?: unknown } | null)?.id;
    if (known && known.record.event.id === id) return true;
    const result = verifyNodeRecord(event);
    if (!result.ok || result.record.pubkey !== pubkey) {
      this.#o.log.warn("bad node record from the cluster", {
        pubkey,
        reason: result.ok ? "key" : result.reason,
      });
      return false;
    }
    // The two buckets arrive in no joint order: an older record never replaces a newer one.
    if (!known || result.record.event.created_at >= known.record.event.created_at) {
      this.#o.registry.adopt(result.record, heartbeatAt);
    }
    return true;
  }

  #presence(pubkey: string, raw: Uint8Array | null, revision: number): void {
    const v = raw && parsePresence(raw);
    if (!v) {
      this.#seen.delete(pubkey);
      this.#dropLink(pubkey, "the node left its instance");
      // Deleted by an instance that took this one for dead (a pause past the deadline): the socket
      // is still here, so the entry goes back at once.
      if (this.#local.has(pubkey)) this.#put(pubkey);
      return;
    }
    if (v.instance === this.#o.instance) return;
    if (!this.#adopt(pubkey, v.event, v.heartbeatAt)) return;
    const registry = this.#o.registry;
    if (v.heartbeat) registry.heartbeat(pubkey, v.heartbeat, v.heartbeatAt, { quiet: true });
    this.#seen.set(pubkey, { instance: v.instance, revision });
    if (!this.#instances.has(v.instance)) this.#instances.set(v.instance, Date.now());
    const current = registry.get(pubkey)!.connection;
    // A socket here wins over an entry that may be older than it.
    if (current instanceof NodeConnection && current.open) return;
    if (current instanceof RemoteLink && current.open && current.instance === v.instance) return;
    this.#linkTo(pubkey, v.instance, v.heartbeatAt);
  }

  #linkTo(pubkey: string, instance: string, heartbeatAt: number): void {
    const link = new RemoteLink(pubkey, instance, this.#o.instance, (f) => this.#o.send(instance, f));
    this.#links.get(pubkey)?.close(`the node moved to instance ${instance}`);
    this.#links.set(pubkey, link);
    this.#o.registry.attach(pubkey, link, heartbeatAt);
  }

  #forgetLink(pubkey: string): void {
    const link = this.#links.get(pubkey);
    if (!link) return;
    this.#links.delete(pubkey);
    link.close("the node connected to this instance");
  }

  #dropLink(pubkey: string, reason: string): void {
    const link = this.#links.get(pubkey);
    if (!link) return;
    this.#links.delete(pubkey);
    link.close(reason);
    this.#o.registry.detach(pubkey, link);
  }

  #beat(instance: string, load: [string, number][]): void {
    if (instance === this.#o.instance) return;
    this.#instances.set(instance, Date.now());
    const byNode = new Map(load);
    for (const link of this.#links.values()) {
      if (link.instance === instance) link.reportedLoad = byNode.get(link.pubkey) ?? 0;
    }
  }

  #tick(): void {
    const o = this.#o;
    const load: [string, number][] = [];
    for (const pubkey of this.#local) {
      const n = o.registry.get(pubkey)?.connection?.inFlight ?? 0;
      if (n > 0) load.push([pubkey, n]);
    }
    try {
      o.nc.publish(o.beatSubject, encodeFrame({ i: o.instance, load }));
    } catch (err) {
      o.log.warn("beat not sent", { err });
    }
    const now = Date.now();
    for (const [instance, at] of [...this.#instances]) {
      if (now - at > o.deadMs) this.#gone(instance, "stopped answering");
    }
  }

  /** An instance is gone: its nodes with it, and the jobs it sent here. */
  #gone(instance: string, why: string): void {
    const o = this.#o;
    if (instance === o.instance) return;
    this.#instances.delete(instance);
    o.log.warn(`instance ${why}; its nodes are dropped`, { instance });
    for (const [pubkey, link] of [...this.#links]) {
      if (link.instance === instance) this.#dropLink(pubkey, `instance ${instance} ${why}`);
    }
    // Its entries go too, unless the node has been put again since (by another instance).
    for (const [pubkey, seen] of [...this.#seen]) {
      if (seen.instance !== instance) continue;
      this.#seen.delete(pubkey);
      void o.presence.delete(pubkey, { previousSeq: seen.revision }).catch(() => {});
    }
    o.onInstanceGone(instance);
  }

  /** Stops beating and watching, and withdraws this instance's nodes at once. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    for (const pubkey of this.#local) this.#remove(pubkey);
    try {
      this.#o.nc.publish(this.#o.beatSubject, encodeFrame({ i: this.#o.instance, load: [], bye: true }));
    } catch {
      // Not connected: the others find out from the silence.
    }
    this.#closed = true;
    await Promise.allSettled([...this.#writes.values()]);
    for (const w of this.#watchers) w.stop();
    for (const s of this.#subs) s.unsubscribe();
    for (const [pubkey] of [...this.#links]) this.#dropLink(pubkey, "this instance is shutting down");
  }
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return null;
  }
}
