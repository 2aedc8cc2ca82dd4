// The public network page's data: nodes online by VRAM tier and model, the lowest prices, jobs
// per minute and success rate over the last ten minutes, the published fee and price bounds (the
// same values `/api/pricing` publishes), and each node's reputation, best first.
import { recentJobStats } from "../../db/mod.ts";
import { formatUsd, PRICE_BOUNDS, VRAM_TIERS } from "../../shared/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { npubEncode } from "nostr-tools/nip19";
import { byScore, reputationOf, type ReputationView } from "./reputation_view.ts";

/** What the network page shows; also the JSON of `GET /network.json`. */
export interface NetworkSnapshot {
  nodesOnline: number;
  tiers: { tier: string; nodes: number }[];
  models: { model: string; nodes: number; promptPer1kUsd: string; completionPer1kUsd: string }[];
  /** Online nodes by reputation score, best first. */
  nodes: {
    name: string;
    pubkey: string;
    npub: string;
    tier: string;
    models: string[];
    reputation: ReputationView;
  }[];
  jobsPerMinute: string;
  successRatePercent: string | null;
  feePercent: string;
  priceBounds: { tier: string; minPer1kUsd: string; maxPer1kUsd: string }[];
  updatedAt: string;
}

const WINDOW_MS = 10 * 60_000;

/** Reads the registry (online: its job socket is open) and the jobs table. */
export async function networkSnapshot(cp: ControlPlane): Promise<NetworkSnapshot> {
  const online = cp.registry.all().filter((n) => n.connection?.open);
  const tiers = VRAM_TIERS.map((tier) => ({
    tier,
    nodes: online.filter((n) => n.record.vramTier === tier).length,
  })).filter((t) => t.nodes > 0);
  const byModel = new Map<string, { nodes: number; prompt: number; completion: number }>();
  for (const node of online) {
    for (const m of node.record.models) {
      const seen = byModel.get(m.id);
      byModel.set(m.id, {
        nodes: (seen?.nodes ?? 0) + 1,
        prompt: Math.min(seen?.prompt ?? Infinity, m.promptPricePer1k),
        completion: Math.min(seen?.completion ?? Infinity, m.completionPricePer1k),
      });
    }
  }
  const stats = await recentJobStats(cp.db.sql, WINDOW_MS);
  return {
    nodesOnline: online.length,
    tiers,
    models: [...byModel].sort(([a], [b]) => a.localeCompare(b)).map(([model, m]) => ({
      model,
      nodes: m.nodes,
      promptPer1kUsd: formatUsd(m.prompt),
      completionPer1kUsd: formatUsd(m.completion),
    })),
    nodes: online.map((n) => ({
      name: n.record.name,
      pubkey: n.record.pubkey,
      npub: npubEncode(n.record.pubkey),
      tier: n.record.vramTier,
      models: n.record.models.map((m) => m.id),
      reputation: reputationOf(n),
    })).sort(byScore),
    jobsPerMinute: (stats.jobs / (WINDOW_MS / 60_000)).toFixed(1),
    successRatePercent: stats.jobs ? ((100 * stats.completed) / stats.jobs).toFixed(1) : null,
    feePercent: (cp.config.feeBps / 100).toString(),
    priceBounds: VRAM_TIERS.map((tier) => ({
      tier,
      minPer1kUsd: formatUsd(PRICE_BOUNDS[tier].minPer1k),
      maxPer1kUsd: formatUsd(PRICE_BOUNDS[tier].maxPer1k),
    })),
    updatedAt: new Date().toISOString(),
  };
}
