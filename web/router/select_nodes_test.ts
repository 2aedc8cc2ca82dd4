import { seededRandom } from "../../testing/seeded_random.ts";
import assert from "node:assert/strict";
import { npubEncode } from "nostr-tools/nip19";
import { parseProviderPrefs, type VerifiedNodeRecord } from "../../shared/mod.ts";
import { type LiveNode, type NodeReputation, priorReputation } from "../registry/node_registry.ts";
import type { NodeConnection } from "../dispatch/node_connection.ts";
import { type RouteRequest, selectNodes } from "./select_nodes.ts";
import { defaultKey, TOP_RANKED } from "./rank_nodes.ts";

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
      rep: Partial<NodeReputation>;
      quantization: string;
      params: string[];
      context: number | null;
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
        contextLength: opts.context ?? null,
        promptPricePer1k: opts.price ?? 1_000,
        completionPricePer1k: 3 * (opts.price ?? 1_000),
        ...(opts.quantization ? { quantization: opts.quantization } : {}),
        ...(opts.params ? { supportedParameters: opts.params } : {}),
      })),
    } as unknown as VerifiedNodeRecord,
    lastHeartbeatAt: NOW - (opts.heartbeatAgoMs ?? 0),
    heartbeat: opts.heartbeatModels
      ? { node_id: id, load: 0, free_slots: 1, in_flight: 0, models: opts.heartbeatModels }
      : null,
    connection: { open: opts.open ?? true, inFlight: opts.inFlight ?? 0 } as unknown as NodeConnection,
    stats: { successes: opts.ok ?? 0, failures: opts.fail ?? 0, ttftEwmaMs: opts.ttft ?? null },
    // Enough samples by default that exploration leaves these nodes alone.
    reputation: { ...priorReputation(), samples: 100, ...opts.rep },
  };
}

// No exploration unless a test asks for it, so rankings are deterministic.
const route = (
  nodes: LiveNode[],
  provider: unknown = undefined,
  model = "m",
  extra: Partial<RouteRequest> = {},
) =>
  selectNodes(nodes, {
    model,
    provider: parseProviderPrefs(provider),
    nowMs: NOW,
    staleMs: 90_000,
    explorationShare: 0,
    ...extra,
  });
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

Deno.test("router - ranks by reputation in 5 % buckets, then by latency, then by load", () => {
  const r = route([
    node("flaky", { rep: { score: 0.5 }, ttft: 10 }),
    node("slow", { rep: { score: 0.95 }, ttft: 300 }),
    node("fast", { rep: { score: 0.96 }, ttft: 20 }),
    node("fast-busy", { rep: { score: 0.94 }, ttft: 20, inFlight: 3 }),
    node("good", { rep: { score: 0.99 }, ttft: 900 }),
  ]);
  // 0.94..0.96 share the 95 % bucket; 0.99 is a bucket above, whatever its latency.
  assert.deepEqual(ids(r), ["good", "fast", "fast-busy", "slow", "flaky"]);
  // The success counts no longer rank: only the reputation does.
  const byStats = route([node("a", { ok: 0, fail: 50 }), node("b", { ok: 50, rep: { score: 0.5 } })]);
  assert.deepEqual(ids(byStats), ["a", "b"]);
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

Deno.test("router - an exploration share of first places goes to low-data nodes, chosen uniformly", () => {
  const nodes = [
    node("best", { rep: { score: 0.99, samples: 500 } }),
    node("new-1", { rep: { samples: 0 } }),
    node("new-2", { rep: { samples: 19.5 } }),
    node("proven", { rep: { score: 0.8, samples: 20 } }),
  ];
  const random = seededRandom(27);
  const firsts = new Map<string, number>();
  const runs = 20_000;
  for (let i = 0; i < runs; i++) {
    const r = route(nodes, undefined, "m", { explorationShare: 0.05, random });
    const first = (ids(r) as string[])[0];
    firsts.set(first, (firsts.get(first) ?? 0) + 1);
  }
  // 5 % of 20,000 = 1,000 explorations, half each: 500 ± a generous 5 sigma (~110).
  for (const id of ["new-1", "new-2"]) {
    const n = firsts.get(id) ?? 0;
    assert.ok(n > 390 && n < 610, `${id} first ${n} times`);
  }
  assert.equal(firsts.get("proven"), undefined);
  assert.equal(firsts.get("best"), runs - firsts.get("new-1")! - firsts.get("new-2")!);
  // The rest of the order is the ranking's, with the explored node lifted out of it.
  const always = () => 0;
  assert.deepEqual(
    ids(route(nodes, undefined, "m", { explorationShare: 0.05, random: always })),
    ["new-1", "best", "proven", "new-2"],
  );
  // No low-data node, or a share of 0: the normal ranking.
  assert.deepEqual(ids(route(nodes.slice(0, 1).concat(nodes[3]), undefined, "m", { random: always })), [
    "best",
    "proven",
  ]);
  assert.deepEqual(ids(route(nodes, undefined, "m", { explorationShare: 0, random: always }))[0], "best");
});

Deno.test("router - exploration picks uniformly among the eligible low-data nodes only", () => {
  const nodes = [
    node("best", { rep: { score: 0.99 } }),
    ...Array.from({ length: 6 }, (_, i) => node(`busy${i}`, { rep: { samples: 1 }, inFlight: 4 })),
    node("new-a", { rep: { samples: 1 } }),
    node("new-b", { rep: { samples: 1 } }),
    node("new-c", { rep: { samples: 1, suspicion: 0.99 } }),
  ];
  const random = seededRandom(5);
  const firsts = new Map<string, number>();
  for (let i = 0; i < 3_000; i++) {
    const first = (ids(route(nodes, undefined, "m", { explorationShare: 1, random })) as string[])[0];
    firsts.set(first, (firsts.get(first) ?? 0) + 1);
  }
  // Always exploring: only new-a and new-b may be first, about half each (± 5 sigma ≈ 137).
  assert.deepEqual([...firsts.keys()].sort(), ["new-a", "new-b"]);
  assert.ok(Math.abs(firsts.get("new-a")! - 1_500) < 137, `new-a first ${firsts.get("new-a")} times`);
});

Deno.test("router - suspected nodes get no consumer jobs, yet canaries reach them", () => {
  const nodes = [
    node("liar", { rep: { score: 1, suspicion: 0.9 } }),
    node("honest", { rep: { score: 0.7, suspicion: 0.2 } }),
  ];
  assert.deepEqual(ids(route(nodes)), ["honest"]);
  assert.deepEqual(ids(route(nodes, undefined, "m", { includeSuspected: true })), ["liar", "honest"]);
  assert.deepEqual(ids(route(nodes, undefined, "m", { suspicionThreshold: 0.95 })), ["liar", "honest"]);
  // Only suspected nodes serve it: the same answer as every node busy, naming none.
  assert.deepEqual(route(nodes.slice(0, 1)), { ok: false, reason: "no_capacity" });
  assert.deepEqual(route([node("busy", { inFlight: 4 })]), { ok: false, reason: "no_capacity" });
  // Asked for by name, a suspected node is still refused.
  assert.deepEqual(route(nodes, { only: ["liar"] }), { ok: false, reason: "no_capacity" });
});

Deno.test("router - provider.min_reputation leaves out nodes below it", () => {
  const nodes = [node("a", { rep: { score: 0.9 } }), node("b", { rep: { score: 0.6 } })];
  assert.deepEqual(ids(route(nodes, { min_reputation: 0.6 })), ["a", "b"]);
  assert.deepEqual(ids(route(nodes, { min_reputation: 0.61 })), ["a"]);
  assert.equal(ids(route(nodes, { min_reputation: 0.95 })), "no_capacity");
});

Deno.test("router - provider.sort orders by price, throughput or latency alone, unknowns last", () => {
  const nodes = [
    node("trusted", { rep: { score: 1, tokensPerSecond: 40, ttftMs: 300 }, price: 3_000 }),
    node("cheap", { rep: { score: 0.5, tokensPerSecond: null, ttftMs: 90 }, price: 1_000 }),
    node("quick", { rep: { score: 0.6, tokensPerSecond: 120, ttftMs: null }, price: 2_000 }),
    node("mid", { rep: { score: 0.7, tokensPerSecond: 80, ttftMs: 150 }, price: 2_000 }),
    node("shady", { rep: { score: 0.9, suspicion: 0.95, tokensPerSecond: 999, ttftMs: 1 }, price: 1 }),
  ];
  assert.deepEqual(ids(route(nodes)), ["trusted", "mid", "quick", "cheap"]);
  // Equal prices fall back to the default ranking (mid's reputation is higher than quick's).
  assert.deepEqual(ids(route(nodes, { sort: "price" })), ["cheap", "mid", "quick", "trusted"]);
  assert.deepEqual(ids(route(nodes, { sort: "throughput" })), ["quick", "mid", "trusted", "cheap"]);
  assert.deepEqual(ids(route(nodes, { sort: "latency" })), ["cheap", "mid", "trusted", "quick"]);
  // min_reputation still applies under a sort, and a sort turns exploration off.
  assert.deepEqual(ids(route(nodes, { sort: "price", min_reputation: 0.65 })), ["mid", "trusted"]);
  const fresh = [node("old", { price: 1 }), node("new", { price: 5, rep: { samples: 0 } })];
  assert.deepEqual(
    ids(route(fresh, { sort: "price" }, "m", { explorationShare: 1, random: () => 0 })),
    ["old", "new"],
  );
});

Deno.test("router - provider.quantizations keeps nodes declaring one of them; undeclared is unknown", () => {
  const nodes = [
    node("q4", { quantization: "int4" }),
    node("half", { quantization: "fp16" }),
    node("silent"),
  ];
  assert.deepEqual(ids(route(nodes, { quantizations: ["fp16", "bf16"] })), ["half"]);
  assert.deepEqual(ids(route(nodes, { quantizations: ["unknown", "int4"] })), ["q4", "silent"]);
  assert.deepEqual(ids(route(nodes, { quantizations: [] })), ["q4", "half", "silent"]);
  assert.equal(ids(route(nodes, { quantizations: ["fp32"] })), "no_capacity");
});

Deno.test("router - provider.require_parameters keeps nodes that declare every parameter used", () => {
  const nodes = [
    node("tools", { params: ["tools", "tool_choice", "seed"] }),
    node("plain", { params: ["seed"] }),
    node("silent"),
  ];
  const used = (parameters: string[], require = true) =>
    ids(route(nodes, { require_parameters: require }, "m", { parameters }));
  assert.deepEqual(used(["tools", "seed"]), ["tools"]);
  assert.deepEqual(used(["seed"]), ["tools", "plain"]);
  // A node that declares nothing is unknown: not eligible when parameters are required.
  assert.deepEqual(used([]), ["tools", "plain"]);
  assert.deepEqual(used(["tools"], false), ["tools", "plain", "silent"]);
  assert.equal(used(["response_format"]), "no_capacity");
});

/** Many nodes with random reputations, TTFTs and loads; some busy, closed or suspected. */
function crowd(count: number, random: () => number): LiveNode[] {
  return Array.from({ length: count }, (_, i) =>
    node(`n${i}`, {
      rep: { score: random(), suspicion: random() < 0.1 ? 0.95 : 0.1, tokensPerSecond: 1 + random() * 100 },
      ttft: random() < 0.2 ? null : random() * 1000,
      inFlight: Math.floor(random() * 5),
      open: random() < 0.9,
      price: 1_000 + Math.floor(random() * 100) * 10,
    }));
}

Deno.test("router - over many nodes, the first TOP_RANKED are exactly the best of all eligible", () => {
  const random = seededRandom(9);
  for (let round = 0; round < 20; round++) {
    const nodes = crowd(300, random);
    const eligible = nodes.filter((n) =>
      n.connection!.open && n.connection!.inFlight < 4 && n.reputation.suspicion < 0.9
    );
    // The brute force: every eligible node by the full key, ties in the given order.
    const best = eligible.map((n, i) => ({ n, k: defaultKey(n), i }))
      .sort((a, b) => a.k - b.k || a.i - b.i).slice(0, TOP_RANKED).map((x) => x.n.record.nodeId);
    const r = route(nodes);
    assert.ok(r.ok);
    const got = r.nodes.map((n) => n.record.nodeId);
    assert.deepEqual(got.slice(0, TOP_RANKED), best);
    // What follows is eligible too, once each.
    assert.equal(new Set(got).size, got.length);
    assert.ok(r.nodes.every((n) => eligible.includes(n)));
    // Under a sort, the same holds for its key, ties by the default key.
    const cheapest = eligible.map((n, i) => ({
      n,
      p: n.record.models[0].promptPricePer1k,
      k: defaultKey(n),
      i,
    }))
      .sort((a, b) => a.p - b.p || a.k - b.k || a.i - b.i).slice(0, TOP_RANKED).map((x) => x.n.record.nodeId);
    const byPrice = route(nodes, { sort: "price" });
    assert.ok(byPrice.ok);
    assert.deepEqual(byPrice.nodes.slice(0, TOP_RANKED).map((n) => n.record.nodeId), cheapest);
  }
});

Deno.test("router - the eligible node with the largest context window is always a candidate", () => {
  const nodes = Array.from(
    { length: 40 },
    (_, i) => node(`small${i}`, { rep: { score: 0.99 }, context: 4096 }),
  );
  nodes.push(node("wide-busy", { rep: { score: 0.1 }, context: 131_072, inFlight: 4 }));
  nodes.push(node("wide", { rep: { score: 0.1 }, context: 32_768 }));
  const r = route(nodes);
  assert.ok(r.ok);
  assert.ok(r.nodes.length < nodes.length, "the walk stopped early");
  assert.equal(r.nodes.at(-1)!.record.nodeId, "wide");
  // A node that did not say its window takes any prompt: it is the widest.
  nodes.push(node("unsaid", { rep: { score: 0.1 } }));
  assert.equal((route(nodes) as { nodes: LiveNode[] }).nodes.at(-1)!.record.nodeId, "unsaid");
});

Deno.test("router - order and only find named nodes however low they rank", () => {
  const nodes = crowd(200, seededRandom(3));
  nodes.push(node("ba5e", { rep: { score: 0 }, ttft: 5000 }));
  nodes.push(node("dear", { price: 1_000_000 }));
  const npub = npubEncode("ba5e".padEnd(64, "0"));
  const ordered = route(nodes, { order: [npub] });
  assert.ok(ordered.ok);
  assert.equal(ordered.nodes[0].record.nodeId, "ba5e");
  assert.ok(ordered.nodes.length > 1);
  assert.deepEqual(ids(route(nodes, { order: ["ba5e"], allow_fallbacks: false })), ["ba5e"]);
  assert.deepEqual(ids(route(nodes, { only: ["ba5e", "nobody"] })), ["ba5e"]);
  // Named nodes that cannot serve: the reason is the model's, not the name's.
  assert.equal(ids(route(nodes, { only: ["nobody"] })), "no_capacity");
  assert.equal(ids(route(nodes, { only: ["ba5e"] }, "other")), "unknown_model");
  assert.equal(ids(route([nodes.at(-1)!], { only: ["dear"], max_price: { prompt: 0.1 } })), "over_max_price");
});
