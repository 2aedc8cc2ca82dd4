// Reference answers for canaries no rule can check: per (model, prompt), the answers nodes in good
// standing gave, grouped by agreement. An answer agreeing with another node's passes; one that
// disagrees fails only against an answer two other nodes agree on, so one lying node cannot make
// its answer the yardstick of honest ones. With nothing to compare, a node is checked against its
// own earlier answer (consistency).
import {
  answerTokens,
  type CanaryAnswer,
  checkAgainstReference,
  tokenAgreement,
  type Verdict,
} from "./answer_checks.ts";
import { MIN_AGREEMENT } from "./answer_checks.ts";

/** A verdict against a reference, and which kind of check it was. */
export interface ReferenceVerdict extends Verdict {
  check: "cross_check" | "canary";
}

interface Candidate {
  text: string;
  tokens: string[];
  /** The nodes whose answers agreed with it (pubkeys). */
  nodes: Set<string>;
}

/** Candidates kept per (model, prompt): answers that disagree with all of them beyond this are dropped. */
const MAX_CANDIDATES = 4;
/** Prompts kept before the oldest is forgotten (memory stays bounded). */
const MAX_PROMPTS = 10_000;

/** The reference answers, in memory. */
export class ReferenceAnswers {
  #byPrompt = new Map<string, Candidate[]>();
  #goodStanding: (pubkey: string) => boolean;

  /** `goodStanding` says, at each use, whether a node's answers may serve as references. */
  constructor(goodStanding: (pubkey: string) => boolean) {
    this.#goodStanding = goodStanding;
  }

  /**
   * Checks `answer` of `node` to (model, prompt key) against the reference (another node's agreed
   * answer), else against the node's own earlier answer; null when there is nothing yet to compare
   * with. The answer is then kept as a candidate when its node is in good standing.
   */
  check(model: string, promptKey: string, node: string, answer: CanaryAnswer): ReferenceVerdict | null {
    const key = `${model}\u0000${promptKey}`;
    const candidates = this.#byPrompt.get(key) ?? [];
    const backers = (c: Candidate) => [...c.nodes].filter((n) => n !== node && this.#goodStanding(n)).length;
    const others = candidates.filter((c) => backers(c) >= 1).sort((a, b) => backers(b) - backers(a));
    let verdict: ReferenceVerdict | null = null;
    // Agreeing with any other node in good standing passes; disagreeing fails only against an
    // answer two of them agree on (one against one cannot say which is wrong).
    for (const c of others) {
      const v = checkAgainstReference(c.text, answer);
      if (v.pass) {
        verdict = { check: "cross_check", ...v };
        break;
      }
    }
    const reference = others.find((c) => backers(c) >= 2);
    if (!verdict && reference) {
      verdict = { check: "cross_check", ...checkAgainstReference(reference.text, answer) };
    }
    const own = candidates.find((c) => c.nodes.has(node));
    if (!verdict && own) verdict = { check: "canary", ...checkAgainstReference(own.text, answer) };
    if (this.#goodStanding(node) && (verdict === null || verdict.pass)) {
      this.#keep(key, candidates, node, answer);
    }
    return verdict;
  }

  #keep(key: string, candidates: Candidate[], node: string, answer: CanaryAnswer): void {
    const tokens = answerTokens(answer.text);
    const match = candidates.find((c) =>
      tokenAgreement(c.tokens, tokens) >= MIN_AGREEMENT && Math.min(c.tokens.length, tokens.length) * 2 >=
        Math.max(c.tokens.length, tokens.length)
    );
    if (match) {
      match.nodes.add(node);
      return;
    }
    if (candidates.length >= MAX_CANDIDATES) return;
    candidates.push({ text: answer.text, tokens, nodes: new Set([node]) });
    if (!this.#byPrompt.has(key)) {
      if (this.#byPrompt.size >= MAX_PROMPTS) this.#byPrompt.delete(this.#byPrompt.keys().next().value!);
      this.#byPrompt.set(key, candidates);
    }
  }
}
