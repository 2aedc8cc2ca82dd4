// Declared hardware against measured throughput: the VRAM tier a node declares sets its price
// ceiling and `min_vram_tier` routing, so a node that claims a big card and serves a model far
// slower than nodes two tiers smaller serving the same model fails a "hardware" check. Only
// comparisons with enough receipts on both sides count, and a node with no such peers is not judged.
import { VRAM_TIERS, type VramTier } from "../../shared/mod.ts";
import type { Verdict } from "./answer_checks.ts";

/** Below this many weighted receipts a node's measured throughput is not trusted either way. */
export const HARDWARE_MIN_SAMPLES = 20;

/** How much slower than a node two tiers smaller a node may be before its tier is doubted. */
export const HARDWARE_SLOWDOWN = 4;

/** What the check reads of a node: its declared tier and models, and its measured speed. */
export interface HardwareFacts {
  pubkey: string;
  tier: VramTier;
  models: readonly string[];
  /** Completion tokens per second over its good receipts (reputation); null before any. */
  tokensPerSecond: number | null;
  samples: number;
}

const measured = (n: HardwareFacts) => n.tokensPerSecond !== null && n.samples >= HARDWARE_MIN_SAMPLES;

/**
 * The node's hardware verdict for `model` against its peers; null when there is nothing to
 * compare (too few receipts, or no node serving the model two tiers or more below it).
 */
export function hardwareVerdict(
  node: HardwareFacts,
  peers: Iterable<HardwareFacts>,
  model: string,
): Verdict | null {
  if (!measured(node)) return null;
  const rank = VRAM_TIERS.indexOf(node.tier);
  let fastest: HardwareFacts | null = null;
  for (const p of peers) {
    if (p.pubkey === node.pubkey || !measured(p) || !p.models.includes(model)) continue;
    if (VRAM_TIERS.indexOf(p.tier) > rank - 2) continue;
    if (!fastest || p.tokensPerSecond! > fastest.tokensPerSecond!) fastest = p;
  }
  if (!fastest) return null;
  const own = node.tokensPerSecond!;
  const theirs = fastest.tokensPerSecond!;
  const speeds = `${own.toFixed(1)} tok/s against ${theirs.toFixed(1)} tok/s on a ${fastest.tier} node`;
  return own * HARDWARE_SLOWDOWN < theirs
    ? { pass: false, detail: `declares ${node.tier} but serves ${model} at ${speeds}` }
    : { pass: true, detail: `${node.tier} at ${speeds}` };
}
