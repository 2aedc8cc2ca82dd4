// Context windows: a chat prompt too long for every node's window is refused before it is held
// for or sent (400 `context_length_exceeded`, as OpenAI answers), and its count stops there.
// Engines count with their own tokenizers and templates, so a prompt is "too long" only when our
// count is past what any engine's count under the window could be (mostWeCount); between the two,
// the engine judges it. A node that did not advertise its window takes any prompt.
import type { LiveNode } from "../registry/node_registry.ts";
import { mostWeCount } from "../metering/count_tokens.ts";

/** A node's context window for `model`, in tokens; null when it did not say. */
export function contextLength(node: LiveNode, model: string): number | null {
  return node.record.models.find((m) => m.id === model)?.contextLength ?? null;
}

/** The longest prompt, by our count, that may go to `node` for `model`. */
export function promptLimit(node: LiveNode, model: string): number {
  const ctx = contextLength(node, model);
  return ctx === null ? Infinity : mostWeCount(ctx);
}

/** Where counting a prompt for these candidates may stop: past it, none of them takes it. */
export function countLimit(nodes: readonly LiveNode[], model: string): number {
  return nodes.reduce((most, n) => Math.max(most, promptLimit(n, model)), 0);
}

/** The candidates (in their order) whose window takes a prompt of `promptTokens` (our count). */
export function nodesForPrompt(nodes: readonly LiveNode[], model: string, promptTokens: number): LiveNode[] {
  return nodes.filter((n) => promptTokens <= promptLimit(n, model));
}

/** The largest context window among the candidates (for the refusal's message). */
export function largestContext(nodes: readonly LiveNode[], model: string): number {
  return nodes.reduce((most, n) => Math.max(most, contextLength(n, model) ?? 0), 0);
}
