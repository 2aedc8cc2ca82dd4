// Receipt chains: each signer's receipts for one node carry `seq` (1, 2, 3…) and `prev` (the
// id of the receipt before), so a reader holding any run of them can tell a gap, a fork (two
// receipts claiming the same place) or a reordering (a receipt pointing at a later one, or time
// running backwards) without trusting whoever served them.

/** The chain fields of one receipt. */
export interface ChainLink {
  id: string;
  seq: number;
  prev: string | null;
  createdAt: number;
}

/** One problem found in a chain, with the receipt it concerns. */
export interface ChainProblem {
  kind: "fork" | "gap" | "reordered" | "duplicate";
  id: string;
  message: string;
}

/**
 * Checks a run of one signer's receipts for one node. `links` may come in any order; a run
 * that does not start at seq 1 is fine as long as it is contiguous (a page of a longer chain).
 */
export function checkChain(links: readonly ChainLink[]): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const byId = new Map<string, ChainLink>();
  const bySeq = new Map<number, ChainLink>();
  for (const link of links) {
    if (byId.has(link.id)) {
      problems.push({ kind: "duplicate", id: link.id, message: `receipt ${link.id} appears twice` });
      continue;
    }
    byId.set(link.id, link);
    const other = bySeq.get(link.seq);
    if (other) {
      problems.push({
        kind: "fork",
        id: link.id,
        message: `receipts ${other.id} and ${link.id} both claim seq ${link.seq}`,
      });
      continue;
    }
    bySeq.set(link.seq, link);
  }
  const ordered = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  for (let i = 0; i < ordered.length; i++) {
    const link = ordered[i];
    const before = i > 0 ? ordered[i - 1] : null;
    if (link.seq === 1 && link.prev !== null) {
      problems.push({ kind: "fork", id: link.id, message: `receipt ${link.id} has seq 1 but a prev` });
    }
    if (link.seq > 1 && link.prev === null) {
      problems.push({
        kind: "gap",
        id: link.id,
        message: `receipt ${link.id} (seq ${link.seq}) has no prev`,
      });
    }
    if (!before) continue;
    if (link.seq !== before.seq + 1) {
      problems.push({
        kind: "gap",
        id: link.id,
        message: `seq ${before.seq + 1}–${link.seq - 1} missing before receipt ${link.id}`,
      });
      continue;
    }
    if (link.prev !== before.id) {
      const target = link.prev === null ? undefined : byId.get(link.prev);
      problems.push(
        target && target.seq > link.seq
          ? {
            kind: "reordered",
            id: link.id,
            message: `receipt ${link.id} points back at a later receipt ${target.id}`,
          }
          : {
            kind: "fork",
            id: link.id,
            message: `receipt ${link.id} (seq ${link.seq}) does not follow ${before.id}`,
          },
      );
    }
    if (link.createdAt < before.createdAt) {
      problems.push({
        kind: "reordered",
        id: link.id,
        message:
          `receipt ${link.id} is dated before the receipt it follows (${link.createdAt} < ${before.createdAt})`,
      });
    }
  }
  return problems;
}
