// How a request names nodes (`provider.order`, `only`, `ignore`): by hex pubkey, npub or node id.
// A node's npub is encoded once per record and matched as a string, so a request naming nodes by
// npub decodes nothing (bech32 decoding costs ~11 µs an npub here: 3 of them were most of a route
// decision's p99, bench/route_bench.ts); an npub no node has simply matches none.
import { npubEncode } from "nostr-tools/nip19";
import type { LiveNode } from "../registry/node_registry.ts";

const npubs = new WeakMap<LiveNode["record"], string>();

/** The node's npub, encoded on first use and kept with its record ("" for a key that is not hex). */
export function npubOf(node: LiveNode): string {
  let npub = npubs.get(node.record);
  if (npub === undefined) {
    npub = /^[0-9a-f]{64}$/.test(node.record.pubkey) ? npubEncode(node.record.pubkey) : "";
    npubs.set(node.record, npub);
  }
  return npub;
}

/** Node refs → their first position in the list. Hex and npubs match case-insensitively. */
export function refKeys(refs: readonly string[]): Map<string, number> {
  const keys = new Map<string, number>();
  refs.forEach((ref, i) => {
    if (!keys.has(ref)) keys.set(ref, i);
    const lower = ref.toLowerCase();
    if ((lower.startsWith("npub1") || /^[0-9a-f]{64}$/.test(lower)) && !keys.has(lower)) keys.set(lower, i);
  });
  return keys;
}

/** The position of the first ref naming this node, or -1. */
export function refIndex(node: LiveNode, keys: Map<string, number>): number {
  let best = -1;
  for (const k of [node.record.pubkey, node.record.nodeId, npubOf(node)]) {
    const at = k === "" ? undefined : keys.get(k);
    if (at !== undefined && (best === -1 || at < best)) best = at;
  }
  return best;
}
