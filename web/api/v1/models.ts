// GET /v1/models: the models served by live nodes, OpenAI's list shape plus what a consumer needs
// to choose: the lowest per-1k-token price, the context length, and how many nodes serve it.
import type { AppContext } from "../../app_env.ts";
import { formatUsd } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";

interface ModelSummary {
  id: string;
  created: number;
  nodes: number;
  contextLength: number | null;
  promptPer1k: number;
  completionPer1k: number;
  testEngine: boolean;
}

/** Summarises the models of nodes that are connected and fresh. */
export function liveModels(cp: ControlPlane, nowMs = Date.now()): ModelSummary[] {
  const byId = new Map<string, ModelSummary>();
  for (const node of cp.registry.all()) {
    if (!node.connection?.open || nowMs - node.lastHeartbeatAt > cp.config.nodeStaleMs) continue;
    const r = node.record;
    for (const m of r.models) {
      const s = byId.get(m.id);
      if (!s) {
        byId.set(m.id, {
          id: m.id,
          created: r.createdAt,
          nodes: 1,
          contextLength: m.contextLength,
          promptPer1k: m.promptPricePer1k,
          completionPer1k: m.completionPricePer1k,
          testEngine: r.engine.testEngine,
        });
        continue;
      }
      s.nodes++;
      s.created = Math.min(s.created, r.createdAt);
      s.contextLength = Math.max(s.contextLength ?? 0, m.contextLength ?? 0) || null;
      s.promptPer1k = Math.min(s.promptPer1k, m.promptPricePer1k);
      s.completionPer1k = Math.min(s.completionPer1k, m.completionPricePer1k);
      s.testEngine = s.testEngine && r.engine.testEngine;
    }
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** The handler for the models list. */
export function listModels(cp: ControlPlane) {
  return (c: AppContext): Response =>
    c.json({
      object: "list",
      data: liveModels(cp).map((m) => ({
        id: m.id,
        object: "model",
        created: m.created,
        owned_by: m.testEngine ? "infernet-test-engine" : "infernet",
        context_length: m.contextLength,
        pricing: {
          prompt_per_1k_tokens_usd: formatUsd(m.promptPer1k),
          completion_per_1k_tokens_usd: formatUsd(m.completionPer1k),
        },
        nodes: m.nodes,
      })),
    });
}
