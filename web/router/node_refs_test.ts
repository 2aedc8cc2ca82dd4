import assert from "node:assert/strict";
import { npubEncode } from "nostr-tools/nip19";
import type { LiveNode } from "../registry/node_registry.ts";
import { npubOf, refIndex, refKeys } from "./node_refs.ts";

const hex = "c0ffee".padEnd(64, "1");
const node = { record: { pubkey: hex, nodeId: "node_a" } } as unknown as LiveNode;

Deno.test("node refs - hex, npub and node id name a node, in either case, first position wins", () => {
  const npub = npubEncode(hex);
  assert.equal(npubOf(node), npub);
  assert.equal(refIndex(node, refKeys([npub])), 0);
  assert.equal(refIndex(node, refKeys(["x", npub.toUpperCase()])), 1);
  assert.equal(refIndex(node, refKeys(["x", "y", hex.toUpperCase()])), 2);
  assert.equal(refIndex(node, refKeys(["node_a", npub])), 0);
  assert.equal(refIndex(node, refKeys(["x", npub, hex])), 1);
});

Deno.test("node refs - another key's npub, a broken npub or a non-hex key name nothing", () => {
  assert.equal(refIndex(node, refKeys([npubEncode("ab".repeat(32))])), -1);
  assert.equal(refIndex(node, refKeys([npubEncode(hex).slice(0, -1) + "q", "npub1", ""])), -1);
  const odd = { record: { pubkey: "not-hex", nodeId: "node_b" } } as unknown as LiveNode;
  assert.equal(npubOf(odd), "");
  assert.equal(refIndex(odd, refKeys(["", "npub1"])), -1);
  assert.equal(refIndex(odd, refKeys(["node_b"])), 0);
});
