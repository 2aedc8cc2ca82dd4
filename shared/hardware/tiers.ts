// VRAM tiers for routing, by total VRAM summed over a node's GPUs (GB = 1024 MB; a value on a
// boundary belongs to the higher tier).

/** The tiers, smallest first. */
export const VRAM_TIERS = ["nano", "small", "medium", "large", "x1", "xx1"] as const;

/** One VRAM tier. */
export type VramTier = typeof VRAM_TIERS[number];

const LOWER_BOUNDS_GB: Record<VramTier, number> = {
  nano: 0,
  small: 4,
  medium: 8,
  large: 16,
  x1: 32,
  xx1: 80,
};

/**
 * The tier of a node with this much VRAM.
 * @example vramTierOf(24_576) === "large"
 */
export function vramTierOf(totalVramMb: number): VramTier {
  let tier: VramTier = "nano";
  for (const t of VRAM_TIERS) if (totalVramMb >= vramTierMinMb(t)) tier = t;
  return tier;
}

/**
 * The least total VRAM (MB) a node of `tier` has.
 * @example vramTierMinMb("large") === 16_384
 */
export function vramTierMinMb(tier: VramTier): number {
  return LOWER_BOUNDS_GB[tier] * 1024;
}

/** True when `x` names a tier. */
export function isVramTier(x: unknown): x is VramTier {
  return typeof x === "string" && (VRAM_TIERS as readonly string[]).includes(x);
}

/** True when `tier` is `min` or larger. */
export function tierAtLeast(tier: VramTier, min: VramTier): boolean {
  return VRAM_TIERS.indexOf(tier) >= VRAM_TIERS.indexOf(min);
}
