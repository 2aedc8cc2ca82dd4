// Canaries wired to a control plane: its registry's live nodes, its own app handler, its job rows.
import { findJob } from "../../db/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { type CanaryDeps, type CanaryOptions, CanaryScheduler } from "./canary_scheduler.ts";

/**
 * What the control plane's key, receipts and reputation provide; each defaults to the control
 * plane's own: `cp.platformKey`, `cp.receipts`, the registry's reputation (suspicion) and
 * `cp.reputation.refresh` after each node's verifications (published to the relays first).
 */
export interface CanaryServices {
  platformKey?: CanaryDeps["platformKey"];
  whenReceipted?: CanaryDeps["whenReceipted"];
  suspicionOf?: CanaryDeps["suspicionOf"];
  onVerification?: CanaryDeps["onVerification"];
}

/** The scheduler's dependencies from a control plane, its app's `fetch`, and its services. */
export function canaryDepsOf(
  cp: ControlPlane,
  fetch: CanaryDeps["fetch"],
  services: CanaryServices = {},
): CanaryDeps {
  return {
    fetch,
    sql: cp.db.sql,
    log: cp.log,
    platformKey: services.platformKey ?? cp.platformKey,
    whenReceipted: services.whenReceipted ?? ((jobId, node) => cp.receipts.whenReceipted(jobId, node)),
    suspicionOf: services.suspicionOf ?? ((pubkey) => cp.registry.get(pubkey)?.reputation.suspicion ?? 0),
    onVerification: services.onVerification ?? (async (pubkey, events) => {
      cp.relayMirror?.publishJson(events);
      await cp.reputation.refresh(pubkey);
    }),
    *nodes() {
      const now = Date.now();
      for (const node of cp.registry.all()) {
        if (!node.connection?.open || now - node.lastHeartbeatAt > cp.config.nodeStaleMs) continue;
        yield {
          pubkey: node.record.pubkey,
          models: node.record.models.map((m) => m.id),
          quantizations: Object.fromEntries(
            node.record.models.map((m) => [m.id, m.quantization ?? "unknown"]),
          ),
          hardware: {
            pubkey: node.record.pubkey,
            tier: node.record.vramTier,
            models: node.record.models.map((m) => m.id),
            tokensPerSecond: node.reputation.tokensPerSecond,
            samples: node.reputation.samples,
          },
          jobsServed: node.stats.successes + node.stats.failures,
        };
      }
    },
    async jobUsage(jobId) {
      // The answer went out once billed; its row may still wait in the recorder's batch.
      await cp.recorder.flush();
      const row = await findJob(cp.db.sql, jobId);
      return row && { reported: row.engineCompletionTokens, counted: row.countedCompletionTokens };
    },
  };
}

/** A scheduler for a control plane at its configured rate (`INFERNET_CANARY_RATE`, floor). */
export function createCanaryScheduler(
  cp: ControlPlane,
  fetch: CanaryDeps["fetch"],
  services: CanaryServices = {},
  opts: CanaryOptions = {},
): CanaryScheduler {
  return new CanaryScheduler(canaryDepsOf(cp, fetch, services), {
    rate: cp.config.canaryRate,
    floorMs: cp.config.canaryFloorMs,
    ...opts,
  });
}
