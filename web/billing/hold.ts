// The worst case a job can cost, held before any node works: the prompt (our count, with room
// for the engine's own tokenizer and chat template) and the completion allowance, each at the
// highest price among the nodes that may serve it (a fallback may go to a pricier one).
import { jobCost } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import { modelPrices } from "../router/select_nodes.ts";
import { contextLength } from "../router/context_window.ts";

/** What a hold is computed from. */
export interface HoldInput {
  model: string;
  /** Our count of the prompt tokens. */
  promptTokens: number;
  /** Completion tokens allowed (max_tokens, or the default allowance); 0 for embeddings. */
  completionAllowance: number;
  /** The candidate nodes, any of which may serve the job. */
  nodes: LiveNode[];
}

/**
 * Prompt tokens held for: ours plus 10 % and 16, since engines count with their own tokenizer
 * and template; the settlement charges what the engine reports, capped at this.
 */
export function promptAllowance(promptTokens: number): number {
  return promptTokens + Math.ceil(promptTokens / 10) + 16;
}

/** The amount (nano-USD) to hold for a job. */
export function holdFor(h: HoldInput): bigint {
  let promptPer1k = 0n;
  let completionPer1k = 0n;
  for (const node of h.nodes) {
    const p = modelPrices(node, h.model);
    if (!p) continue;
    if (p.promptPer1k > promptPer1k) promptPer1k = p.promptPer1k;
    if (p.completionPer1k > completionPer1k) completionPer1k = p.completionPer1k;
  }
  const cost = jobCost({
    promptTokens: promptAllowance(h.promptTokens),
    completionTokens: h.completionAllowance,
    promptPer1k,
    completionPer1k,
  });
  return cost > 0n ? cost : 1n;
}

/**
 * The completion allowance of a chat request: its own `max_tokens`, else the default, never
 * more than what the smallest known context window leaves after the prompt.
 */
export function completionAllowance(
  maxTokens: number | null,
  opts: { defaultMaxTokens: number; promptTokens: number; model: string; nodes: LiveNode[] },
): number {
  if (maxTokens !== null) return maxTokens;
  let allowance = opts.defaultMaxTokens;
  for (const node of opts.nodes) {
    const ctx = contextLength(node, opts.model);
    if (ctx && ctx - opts.promptTokens > 0) allowance = Math.min(allowance, ctx - opts.promptTokens);
  }
  return allowance;
}
