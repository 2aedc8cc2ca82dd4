// AMD GPUs through `rocm-smi --json`, whose keys and placeholders vary between ROCm releases.
import { isRecord } from "../../shared/mod.ts";
import { gpuArchitecture, type GpuInfo, MIB, parseJsonObject, toNumber, toText } from "./gpu_info.ts";

/** The arguments of the `rocm-smi` query, a JSON object keyed by "card0", "card1", …. */
export const ROCM_SMI_ARGS: readonly string[] = [
  "--showproductname",
  "--showmeminfo",
  "vram",
  "--showuse",
  "--json",
];

// rocm-smi's key case changed between releases ("Card series" → "Card Series").
function rocmField(card: Record<string, unknown>, key: string): unknown {
  const found = Object.keys(card).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : card[found];
}

// A usable product name: not empty, not "N/A", not a bare PCI id such as "0x74a1".
function rocmName(card: Record<string, unknown>): string {
  for (const key of ["Card Series", "Card Model"]) {
    const value = rocmField(card, key);
    if (typeof value !== "string") continue;
    const name = toText(value);
    if (name !== null && !/^0x[0-9a-f]+$/i.test(name)) return name;
  }
  return "AMD GPU";
}

function rocmCard(key: string, card: unknown): GpuInfo | null {
  const index = /^card(\d+)$/.exec(key)?.[1];
  if (index === undefined || !isRecord(card)) return null;
  const totalB = toNumber(rocmField(card, "VRAM Total Memory (B)"));
  if (totalB === null || totalB <= 0) return null;
  const usedB = toNumber(rocmField(card, "VRAM Total Used Memory (B)"));
  const name = rocmName(card);
  return {
    index: Number(index),
    vendor: "amd",
    name,
    vramMb: Math.round(totalB / MIB),
    vramUsedMb: usedB === null ? null : Math.round(usedB / MIB),
    utilizationPct: toNumber(rocmField(card, "GPU use (%)")),
    temperatureC: null,
    powerW: null,
    uuid: null,
    architecture: gpuArchitecture(name),
  };
}

/** Parses the output of `rocm-smi` with ROCM_SMI_ARGS; cards without a VRAM size are skipped. */
export function parseRocmSmiJson(text: string): GpuInfo[] {
  const cards = parseJsonObject(text) ?? {};
  return Object.entries(cards)
    .map(([key, card]) => rocmCard(key, card))
    .filter((g) => g !== null)
    .sort((a, b) => a.index - b.index);
}
