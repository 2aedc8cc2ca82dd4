import assert from "node:assert/strict";
import { npubEncode } from "nostr-tools/nip19";
import type { LiveNode } from "../registry/node_registry.ts";
import { lookUp, npubOf } from "./node_refs.ts";
import { buildNodeSource } from "./node_source.ts";

const hex = "c0ffee".padEnd(64, "1");
const serving = (pubkey: string, nodeId: string) =>
  ({ record: { pubkey, nodeId, models: [{ id: "m" }] } }) as unknown as LiveNode;
const node = serving(hex, "node_a");
const odd = serving("not-hex", "node_b");
const other = serving("ab".repeat(32), "node_c");
const source = buildNodeSource([node, odd, other], "m");
/** The position naming `n` among `refs`, or -1. */
const rankOf = (n: LiveNode, refs: string[]) => lookUp(source, refs).rank.get(n) ?? -1;

Deno.test("node refs - hex, npub and node id name a node, in either case, first position wins", () => {
  const npub = npubEncode(hex);
  assert.equal(npubOf(node), npub);
  assert.equal(rankOf(node, [npub]), 0);
  assert.equal(rankOf(node, ["x", npub.toUpperCase()]), 1);
  assert.equal(rankOf(node, ["x", "y", hex.toUpperCase()]), 2);
  assert.equal(rankOf(node, ["node_a", npub]), 0);
  assert.equal(rankOf(node, ["x", npub, hex]), 1);
  const named = lookUp(source, ["node_c", npub, hex, "node_a"]);
  assert.deepEqual(named.nodes, [other, node], "each node once, in the order first named");
  assert.deepEqual(named.models, [other.record.models[0], node.record.models[0]]);
});

Deno.test("node refs - another key's npub, a broken npub or a non-hex key name nothing", () => {
  assert.equal(rankOf(node, [npubEncode("ab".repeat(32))]), -1);
  assert.equal(rankOf(node, [npubEncode(hex).slice(0, -1) + "q", "npub1", ""]), -1);
  assert.equal(npubOf(odd), "");
  assert.equal(rankOf(odd, ["", "npub1"]), -1);
  assert.equal(rankOf(odd, ["node_b"]), 0);
  assert.equal(lookUp(buildNodeSource([node], "another model"), [hex]).nodes.length, 0);
});
