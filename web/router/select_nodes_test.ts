import assert from "node:assert/strict";
import { npubEncode } from "nostr-tools/nip19";
import { parseProviderPrefs, type VerifiedNodeRecord } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import type { NodeConnection } from "../dispatch/node_connection.ts";
import { selectNodes } from "./select_nodes.ts";

const NOW = 1_000_000;

function node(
  id: string,
  opts: Partial<
    {
      models: string[];
      heartbeatAgoMs: number;
      heartbeatModels: string[];
      inFlight: number;
      max: number;
      ok: number;
      fail: number;
      ttft: number | null;
      open: boolean;
      tier: string;
      price: number;
    }
  > = {},
): LiveNode {
  const pubkey = id.padEnd(64, "0");
  return {
    record: {
      pubkey,
      nodeId: id,
      maxConcurrency: opts.max ?? 4,
      vramTier: opts.tier ?? "large",
      models: (opts.models ?? ["m"]).map((m) => ({
        id: m,
        contextLength: null,
        promptPricePer1k: opts.price ?? 1_000,
        completionPricePer1k: 3 * (opts.price ?? 1_000),
      })),
    } as unknown as VerifiedNodeRecord,
    lastHeartbeatAt: NOW - (opts.heartbeatAgoMs ?? 0),
    heartbeat: opts.heartbeatModels
      ? { node_id: id, load: 0, free_slots: 1, in_flight: 0, models: opts.heartbeatModels }
      : null,
    connection: { open: opts.open ?? true, inFlight: opts.inFlight ?? 0 } as unknown as NodeConnection,
    stats: { successes: opts.ok ?? 0, failures: opts.fail ?? 0, ttftEwmaMs: opts.ttft ?? null },
  };
}

const route = (nodes: LiveNode[], provider: unknown = undefined, model = "m") =>
  selectNodes(nodes, { model, provider: parseProviderPrefs(provider), nowMs: NOW, staleMs: 90_000 });
const ids = (r: ReturnType<typeof route>) => (r.ok ? r.nodes.map((n) => n.record.nodeId) : r.reason);

Deno.test("router - a model no live node serves is unknown; a busy one has no capacity", () => {
  assert.equal(ids(route([node("a")], undefined, "other")), "unknown_model");
  assert.equal(ids(route([node("a", { inFlight: 4 })])), "no_capacity");
});

Deno.test("router - skips stale heartbeats (> 90 s) and closed sockets", () => {
  assert.deepEqual(
    ids(
      route([
        node("a", { heartbeatAgoMs: 91_000 }),
        node("b", { open: false }),
        node("c", { heartbeatAgoMs: 90_000 }),
      ]),
    ),
    ["c"],
  );
});

Deno.test("router - a node whose last heartbeat lists its models gets jobs for those only", () => {
  const nodes = [
    node("a", { models: ["m", "n"], heartbeatModels: ["n"] }),
    node("b", { models: ["m", "n"] }),
    node("c", { models: ["m", "n"], heartbeatModels: ["m", "n"] }),
    node("draining", { models: ["m", "n"], heartbeatModels: [] }),
  ];
  assert.deepEqual(ids(route(nodes)), ["b", "c"]);
  assert.deepEqual(ids(route(nodes, undefined, "n")), ["a", "b", "c"]);
  // Listed in a heartbeat but not in the record: the record decides what a node serves.
  assert.equal(
    ids(route([node("x", { models: ["m"], heartbeatModels: ["m", "z"] })], undefined, "z")),
    "unknown_model",
  );
  // Every node serving the model has left it out of its heartbeat: no capacity, not an unknown model.
  assert.equal(ids(route([node("d", { heartbeatModels: [] })])), "no_capacity");
});

Deno.test("router - ranks by success rate, then by latency, then by load", () => {
  const r = route([
    node("flaky", { ok: 5, fail: 5, ttft: 10 }),
    node("slow", { ok: 50, ttft: 300 }),
    node("fast", { ok: 50, ttft: 20 }),
    node("fast-busy", { ok: 50, ttft: 20, inFlight: 3 }),
  ]);
  assert.deepEqual(ids(r), ["fast", "fast-busy", "slow", "flaky"]);
});

Deno.test("router - honours provider only, ignore, order and allow_fallbacks", () => {
  const nodes = [node("a", { ok: 9 }), node("b"), node("c")];
  assert.deepEqual(ids(route(nodes, { only: ["b", "c"] })), ["b", "c"]);
  assert.deepEqual(ids(route(nodes, { ignore: ["a"] })), ["b", "c"]);
  assert.deepEqual(ids(route(nodes, { order: ["c"] })), ["c", "a", "b"]);
  assert.deepEqual(ids(route(nodes, { order: ["c"], allow_fallbacks: false })), ["c"]);
  const tiered = [node("tiny", { tier: "small" }), node("big", { tier: "x1" })];
  assert.deepEqual(ids(route(tiered, { min_vram_tier: "large" })), ["big"]);
  const npub = npubEncode("b".padEnd(64, "0"));
  assert.deepEqual(ids(route(nodes, { only: [npub] })), ["b"]);
});

Deno.test("router - provider.max_price leaves out pricier nodes; none cheap enough is its own reason", () => {
  // max_price is USD per million tokens: 0.2 → 200,000 nano-USD per 1k.
  const nodes = [node("cheap", { price: 100_000 }), node("dear", { price: 400_000 })];
  assert.deepEqual(ids(route(nodes, { max_price: { prompt: 0.2 } })), ["cheap"]);
  assert.deepEqual(ids(route(nodes, { max_price: { completion: 1.2 } })), ["cheap", "dear"]);
  assert.deepEqual(ids(route(nodes, { max_price: { completion: 1.19 } })), ["cheap"]);
  assert.equal(ids(route(nodes, { max_price: { prompt: 0.05 } })), "over_max_price");
});
