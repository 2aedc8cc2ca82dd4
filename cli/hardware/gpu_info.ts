// What the node says about one GPU, and the helpers every vendor's parser shares: a GPU's
// architecture from its name, and tolerant reads of the numbers and text the tools print.
import { isRecord } from "../../shared/mod.ts";

/** Bytes in a MiB. */
export const MIB = 1024 * 1024;

/** One GPU as the node advertises it. */
export interface GpuInfo {
  index: number;
  vendor: "nvidia" | "amd" | "apple";
  name: string;
  vramMb: number;
  vramUsedMb: number | null;
  utilizationPct: number | null;
  temperatureC: number | null;
  powerW: number | null;
  uuid: string | null;
  architecture: string | null;
}

// Most specific first: "Quadro RTX 5000" is Turing and "RTX 5000 Ada" is Ada, not Blackwell.
const ARCHITECTURES: readonly [RegExp, string][] = [
  [/\b(Quadro RTX|TITAN RTX)\b/i, "Turing"],
  [/\bRTX \d{4}( SFF)? Ada\b|\bAda Generation\b/i, "Ada Lovelace"],
  [/\bBlackwell\b|\b(GB[123]00|B[123]00)\b|\bRTX 50[5-9]0/i, "Blackwell"],
  [/\b(GH200|H100|H200|H800|H20)\b/i, "Hopper"],
  [/\b(L4|L40S?|L20)\b|\bRTX 40[5-9]0/i, "Ada Lovelace"],
  [/\b(A100|A800|A40|A30|A16|A10G?|A2|RTX A\d{3,4})\b|\bRTX 30[5-9]0/i, "Ampere"],
  [/\b(T4|GTX 16[5-6]0)\b|\bRTX 20[6-8]0/i, "Turing"],
  [/\b(V100|TITAN V)\b/i, "Volta"],
  [/\b(P100|P40|P4|TITAN Xp)\b|\bGTX 10[5-8]0/i, "Pascal"],
  [/\bMI3[5-9]\d[XA]?\b/i, "CDNA4"],
  [/\bMI3[0-2]\d[XA]?\b/i, "CDNA3"],
  [/\bMI2\d\dX?\b/i, "CDNA2"],
  [/\bMI100\b/i, "CDNA"],
  [/\b(RX 9\d{3}|R9700|Navi 4\d)\b/i, "RDNA4"],
  [/\b(RX 7\d{3}|W7\d{3}|Navi 3\d)\b/i, "RDNA3"],
  [/\b(RX 6\d{3}|W6\d{3}|Navi 2\d)\b/i, "RDNA2"],
];

/** The architecture generation of a GPU from its name (H100 → "Hopper"), or null when unknown. */
export function gpuArchitecture(name: string): string | null {
  const apple = /\bApple (M\d+)/i.exec(name);
  if (apple) return `Apple ${apple[1].toUpperCase()}`;
  return ARCHITECTURES.find(([re]) => re.test(name))?.[1] ?? null;
}

// A number, or null for "[N/A]", "[Not Supported]", "" and other non-numbers.
export function toNumber(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "string" || !/^\s*-?\d+(\.\d+)?\s*$/.test(value)) return null;
  return Number(value);
}

// A text value, or null for nvidia-smi's bracketed placeholders and "N/A".
export function toText(value: string | undefined): string | null {
  const text = value?.trim() ?? "";
  return text === "" || text.startsWith("[") || /^N\/A$/i.test(text) ? null : text;
}

// The JSON object in a tool's stdout, skipping any warning lines printed around it.
export function parseJsonObject(text: string): Record<string, unknown> | null {
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0 || end < start) return null;
  try {
    const value: unknown = JSON.parse(text.slice(start, end + 1));
    return isRecord(value) ? value : null;
  } catch {
    return null;
  }
}
