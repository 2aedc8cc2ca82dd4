import assert from "node:assert/strict";
import type { VerifiedNodeRecord } from "../../shared/mod.ts";
import { type LiveNode, priorReputation } from "../registry/node_registry.ts";
import { mostWeCount } from "../metering/count_tokens.ts";
import { countLimit, largestContext, nodesForPrompt, promptLimit } from "./context_window.ts";

/** A node serving "m" with this context window (null: not advertised), and "other" without one. */
function node(id: string, contextLength: number | null): LiveNode {
  return {
    record: {
      nodeId: id,
      models: [
        { id: "m", contextLength, promptPricePer1k: 1, completionPricePer1k: 1 },
        { id: "other", contextLength: null, promptPricePer1k: 1, completionPricePer1k: 1 },
      ],
    } as unknown as VerifiedNodeRecord,
    lastHeartbeatAt: 0,
    heartbeat: null,
    connection: null,
    stats: { successes: 0, failures: 0, ttftEwmaMs: null },
    reputation: priorReputation(),
  };
}
const ids = (nodes: LiveNode[]) => nodes.map((n) => n.record.nodeId);

Deno.test("context window - a prompt goes only to nodes whose window may take it, in their order", () => {
  const nodes = [node("small", 4096), node("big", 32_768), node("mid", 8192)];
  assert.equal(promptLimit(nodes[0], "m"), mostWeCount(4096));
  assert.equal(countLimit(nodes, "m"), mostWeCount(32_768));
  assert.deepEqual(ids(nodesForPrompt(nodes, "m", 4000)), ["small", "big", "mid"]);
  // Over the small window by our count, yet an engine may count it under: still offered to it.
  assert.deepEqual(ids(nodesForPrompt(nodes, "m", mostWeCount(4096))), ["small", "big", "mid"]);
  assert.deepEqual(ids(nodesForPrompt(nodes, "m", mostWeCount(4096) + 1)), ["big", "mid"]);
  assert.deepEqual(ids(nodesForPrompt(nodes, "m", mostWeCount(32_768) + 1)), []);
  assert.equal(largestContext(nodes, "m"), 32_768);
});

Deno.test("context window - a node that did not say its window takes any prompt, and the count runs to the end", () => {
  const nodes = [node("small", 4096), node("unsaid", null)];
  assert.equal(countLimit(nodes, "m"), Infinity);
  assert.deepEqual(ids(nodesForPrompt(nodes, "m", 10_000_000)), ["unsaid"]);
  assert.equal(countLimit([node("a", 4096)], "other"), Infinity);
  assert.equal(largestContext([node("unsaid", null)], "m"), 0);
});
