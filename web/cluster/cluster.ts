// Several control-plane instances as one service: opened when INFERNET_NATS_URL is set. Each
// instance has an inbox subject for the jobs, cancels and events other instances send it, a
// presence (presence.ts) that puts every node in every router, and a relay (job_relay.ts) that
// runs other instances' jobs on the nodes connected here. Subjects and buckets carry the
// configured prefix, so deployments (and tests) sharing one NATS server stay apart.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import type { Logger } from "../../shared/mod.ts";
import type { NodeRegistry } from "../registry/node_registry.ts";
import type { DirectJobs } from "../direct/direct_jobs.ts";
import { encodeFrame, type InboxFrame, parseInboxFrame } from "./cluster_frames.ts";
import { ClusterLease } from "./cluster_lease.ts";
import { DirectPeers } from "./direct_peers.ts";
import { type Invalidation, InvalidationBus } from "./invalidation.ts";
import type { ClusterReceiptDesk } from "./cluster_receipts.ts";
import { JobRelay } from "./job_relay.ts";
import { ClusterPresence } from "./presence.ts";

/** Options of {@link openCluster}. */
export interface ClusterOptions {
  /** NATS server URL(s), comma-separated. */
  url: string;
  /** Subject and bucket prefix (letters, digits, `-`, `_`). */
  prefix: string;
  /** This instance's id (unique among the running instances). */
  instance: string;
  registry: NodeRegistry;
  log: Logger;
  /** The receipt desk, told where each node's receipts are written; absent: none. */
  receipts?: ClusterReceiptDesk;
  /** The longest a relayed job waits for its node's next event. */
  jobTimeoutMs: number;
  /** This instance's direct-mode jobs: the others ask it about them (absent: none answered). */
  direct?: DirectJobs;
  /** Drops what this instance caches of a thing another instance (or this one) changed. */
  onInvalidate?: (inv: Invalidation) => void;
  /** How long a lease outlives its holder's last renewal (default 3,000 ms). */
  leaseTtlMs?: number;
  /** How often an instance says it is alive (default 1,000 ms). */
  beatMs?: number;
  /** An instance silent this long is gone, and its nodes with it (default 3,000 ms). */
  deadMs?: number;
}

/** The subjects and buckets of a deployment's prefix. */
export function clusterNames(prefix: string) {
  return {
    inbox: (instance: string) => `${prefix}.in.${instance}`,
    beat: `${prefix}.beat`,
    heartbeat: `${prefix}.hb`,
    invalidate: `${prefix}.invalidate`,
    presenceBucket: `${prefix}_presence`,
    recordsBucket: `${prefix}_records`,
    leaseBucket: `${prefix}_leases`,
  };
}

/** This instance's membership of the cluster. */
export interface Cluster {
  instance: string;
  nc: NatsConnection;
  presence: ClusterPresence;
  relay: JobRelay;
  /** Direct-mode jobs across instances; null when no DirectJobs was given. */
  direct: DirectPeers | null;
  /** Starts trying for the lease `name`: `onChange` says when this instance holds it (or no longer). */
  lease(name: string, onChange: (held: boolean) => void): Promise<ClusterLease>;
  /** Tells every instance (this one too) to drop its cached copy of a changed thing. */
  invalidate(inv: Invalidation): Promise<void>;
  close(): Promise<void>;
}

/** Connects to NATS, opens the buckets, and joins: presence, inbox, relay. */
export async function openCluster(opts: ClusterOptions): Promise<Cluster> {
  const names = clusterNames(opts.prefix);
  const nc = await connect({
    servers: opts.url.split(",").map((s) => s.trim()),
    name: `infernet-${opts.instance}`,
    maxReconnectAttempts: -1,
  }).catch((err) => {
    throw new Error(`NATS at ${opts.url} did not answer (INFERNET_NATS_URL): ${err.message}`, { cause: err });
  });
  try {
    const kvm = new Kvm(nc);
    const leaseTtlMs = opts.leaseTtlMs ?? 3000;
    const [presenceKv, recordsKv, leaseKv] = await Promise.all([
      kvm.create(names.presenceBucket, { history: 1 }),
      kvm.create(names.recordsBucket, { history: 1 }),
      kvm.create(names.leaseBucket, { history: 1, ttl: leaseTtlMs }),
    ]);
    const leases = new Set<ClusterLease>();
    const send = (instance: string, frame: InboxFrame): boolean => {
      try {
        nc.publish(names.inbox(instance), encodeFrame(frame));
        return true;
      } catch (err) {
        opts.log.warn("cluster frame not sent", { to: instance, err });
        return false;
      }
    };
    const relay = new JobRelay({
      instance: opts.instance,
      registry: opts.registry,
      log: opts.log,
      send,
      waitMs: opts.jobTimeoutMs,
    });
    const presence = new ClusterPresence({
      instance: opts.instance,
      registry: opts.registry,
      log: opts.log,
      nc,
      presence: presenceKv,
      records: recordsKv,
      beatSubject: names.beat,
      heartbeatSubject: names.heartbeat,
      send,
      onInstanceGone: (instance) => relay.originGone(instance),
      beatMs: opts.beatMs ?? 1000,
      deadMs: opts.deadMs ?? 3000,
    });
    const inbox = nc.subscribe(names.inbox(opts.instance), {
      callback(err, msg) {
        if (err) return opts.log.warn("cluster inbox error", { err });
        const frame = parseInboxFrame(msg.data);
        if (!frame) return opts.log.warn("bad cluster frame", { bytes: msg.data.length });
        switch (frame.t) {
          case "job":
            return relay.start(frame);
          case "relay":
            return relay.openRelay(frame);
          case "rf":
            return relay.relayLines(frame.job, frame.lines);
          case "ticket":
            return relay.announceTicket(frame);
          case "cancel":
            return relay.cancel(frame.job, frame.reason);
          case "ev":
            return presence.link(frame.node)?.deliver(frame.job, frame.evs);
          default:
            return opts.receipts?.applyForwarded(frame);
        }
      },
    });
    opts.receipts?.routeThrough({ holderOf: (node) => presence.holderOf(node), send });
    const direct = opts.direct
      ? new DirectPeers({
        nc,
        prefix: opts.prefix,
        instance: opts.instance,
        direct: opts.direct,
        log: opts.log,
      })
      : null;
    direct?.start();
    const invalidations = new InvalidationBus(
      nc,
      names.invalidate,
      opts.log,
      (inv) => opts.onInvalidate?.(inv),
    );
    await presence.start();
    // The subscriptions are on the server before anyone is told this instance holds a node.
    await nc.flush();
    return {
      instance: opts.instance,
      nc,
      presence,
      relay,
      direct,
      invalidate: (inv) => invalidations.publish(inv),
      async lease(name, onChange) {
        const lease = new ClusterLease({
          kv: leaseKv,
          name,
          instance: opts.instance,
          ttlMs: leaseTtlMs,
          log: opts.log,
          onChange,
        });
        leases.add(lease);
        await lease.start();
        return lease;
      },
      async close() {
        await Promise.all([...leases].map((l) => l.close()));
        direct?.close();
        invalidations.close();
        await presence.close();
        opts.receipts?.routeThrough(null);
        inbox.unsubscribe();
        await nc.drain().catch(() => {});
      },
    };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}
