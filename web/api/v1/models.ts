// GET /v1/models: the models served by live nodes, OpenAI's list shape plus what a consumer needs
// to choose: the lowest per-1k-token price, the context length, and how many nodes serve it.
import type { AppContext } from "../../app_env.ts";
import { formatUsd } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";

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

/** OpenAI's model object, with the network's prices and node count. */
function modelObject(m: ModelSummary) {
  return {
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
  };
}

/** The handler for the models list. */
export function listModels(cp: ControlPlane) {
  return (c: AppContext): Response => c.json({ object: "list", data: liveModels(cp).map(modelObject) });
}

/**
 * The handler for one model (`GET /v1/models/{model}`, OpenAI's retrieve): a model id may hold
 * slashes (`org/name`), escaped or not.
 */
export function retrieveModel(cp: ControlPlane) {
  return (c: AppContext): Response => {
    const raw = c.req.path.slice(c.req.path.indexOf("/models/") + "/models/".length);
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      id = raw;
    }
    const found = liveModels(cp).find((m) => m.id === id);
    if (!found) {
      throw new HttpError(404, `The model '${id}' does not exist or no node serves it now.`, {
        code: "model_not_found",
        param: "model",
      });
    }
    return c.json(modelObject(found));
  };
}
