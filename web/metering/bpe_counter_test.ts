import assert from "node:assert/strict";
import { BpeCounter, buildBpeTables, type RankedToken } from "./bpe_counter.ts";

/** Every byte, then merged tokens in rank order (as a byte-level BPE vocabulary is laid out). */
function vocabulary(merged: string[]): RankedToken[] {
  const ranks: RankedToken[] = [];
  for (let b = 0; b < 256; b++) ranks.push(b < 128 ? String.fromCharCode(b) : [b]);
  return ranks.concat(merged);
}

/** tiktoken's merge loop, written plainly: the lowest rank pair merges first, leftmost on a tie. */
function referenceCount(ranks: RankedToken[], piece: string): number {
  const enc = new TextEncoder();
  const rankOf = new Map<string, number>();
  ranks.forEach((t, r) => {
    if (t !== undefined) rankOf.set(String(typeof t === "string" ? [...enc.encode(t)] : t), r);
  });
  const bytes = [...enc.encode(piece)];
  if (bytes.length <= 1 || rankOf.has(String(bytes))) return 1;
  let parts = bytes.map((b) => [b]);
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rankOf.get(String([...parts[i], ...parts[i + 1]])) ?? Infinity;
      if (r < bestRank) [best, bestRank] = [i, r];
    }
    if (best < 0) return parts.length;
    parts = [...parts.slice(0, best), [...parts[best], ...parts[best + 1]], ...parts.slice(best + 2)];
  }
}

/** Splits on nothing: the whole text is one piece. */
const WHOLE = /[\s\S]+/g;

Deno.test("bpe counter - merges the lowest rank first and the leftmost pair on a tie", () => {
  const ranks = vocabulary(["aa", "ab", "aaa", "aab", "aaaa"]);
  const counter = new BpeCounter(buildBpeTables(ranks), WHOLE);
  // "aaaaa": aa,a,a,a -> aa,aa,a (the leftmost "aa" of two) -> aa,aaa; "aaaaa" is no token.
  assert.equal(counter.count("aaaaa"), 2);
  assert.equal(counter.count("aaab"), referenceCount(ranks, "aaab"));
  assert.equal(counter.count("aaaa"), 1, "a whole token is one");
  assert.equal(counter.count("a"), 1);
  assert.equal(counter.count(""), 0);
  assert.equal(counter.count("xyz"), 3, "bytes with no merge stay apart");
});

Deno.test("bpe counter - agrees with the plain merge loop on random text over a small vocabulary", () => {
  const ranks = vocabulary(["ab", "ba", "aa", "bb", "aba", "bab", "abab", "ca", "cab", "é", "éa", "aé"]);
  const counter = new BpeCounter(buildBpeTables(ranks), WHOLE);
  let seed = 7;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const alphabet = ["a", "b", "c", "é", "€", "😀"];
  for (let n = 0; n < 2000; n++) {
    let text = "";
    const len = 1 + Math.floor(random() * 24);
    for (let i = 0; i < len; i++) text += alphabet[Math.floor(random() * alphabet.length)];
    assert.equal(counter.count(text), referenceCount(ranks, text), JSON.stringify(text));
  }
});

Deno.test("bpe counter - counts each piece of the split pattern on its own", () => {
  const ranks = vocabulary(["ab", " ab"]);
  const counter = new BpeCounter(buildBpeTables(ranks), / ?[a-z]+|\s+|./gu);
  // "ab", " ab", "  " (two bytes, no merge), "ab", "!".
  assert.equal(counter.count("ab ab  ab!"), 1 + 1 + 2 + 1 + 1);
  assert.equal(counter.count("abc"), 2);
});

Deno.test("bpe counter - a long piece with many merges takes time in proportion to its length", () => {
  // A vocabulary where every run of "a" up to 64 merges: the quadratic loop does ~n^2/2 steps.
  const merged: string[] = [];
  for (let k = 2; k <= 64; k++) merged.push("a".repeat(k));
  const counter = new BpeCounter(buildBpeTables(vocabulary(merged)), WHOLE);
  // 200,000 bytes in 3,125 tokens of 64; the plain loop would scan ~10^10 pairs here.
  assert.equal(counter.count("a".repeat(200_000)), 3125);
});
