// How a request names nodes (`provider.order`, `only`, `ignore`): by hex pubkey, npub or node id.
// A node's npub is encoded once per record and matched as a string, so a request naming nodes by
// npub decodes nothing (bech32 decoding costs ~11 µs an npub here: 3 of them were most of a route
// decision's p99, bench/route_bench.ts); an npub no node has simply matches none. Refs are looked
// up in the model's name index once per request; the walk then tests membership, not strings.
import { npubEncode } from "nostr-tools/nip19";
import type { NodeModel } from "../../shared/mod.ts";
import type { LiveNode } from "../registry/node_registry.ts";
import type { NodeSource } from "./node_source.ts";

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

const HAS_UPPER = /[A-Z]/;

/** Node refs → their first position in the list. Hex and npubs match case-insensitively. */
export function refKeys(refs: readonly string[]): Map<string, number> {
  const keys = new Map<string, number>();
  refs.forEach((ref, i) => {
    if (!keys.has(ref)) keys.set(ref, i);
    // Most refs are written in lower case already: only the others are copied.
    if (!HAS_UPPER.test(ref)) return;
    const lower = ref.toLowerCase();
    if ((lower.startsWith("npub1") || /^[0-9a-f]{64}$/.test(lower)) && !keys.has(lower)) keys.set(lower, i);
  });
  return keys;
}

/** The nodes a request names, with their entries for the model, and the first position naming each. */
export interface Named {
  nodes: LiveNode[];
  models: NodeModel[];
  rank: Map<LiveNode, number>;
}

/**
 * The nodes of `source` that `refs` name (hex, npub or node id, in either case: the source's name
 * index). Looked up once per request, so the walk tests membership instead of matching every node
 * it reads against the refs.
 */
export function lookUp(source: NodeSource, refs: readonly string[]): Named {
  const named: Named = { nodes: [], models: [], rank: new Map() };
  for (const [key, at] of refKeys(refs)) {
    const list = source.named(key);
    for (let i = 0; i < list.nodes.length; i++) {
      const n = list.nodes[i];
      const had = named.rank.get(n);
      if (had === undefined) {
        named.nodes.push(n);
        named.models.push(list.models[i]);
      }
      if (had === undefined || at < had) named.rank.set(n, at);
    }
  }
  return named;
}
