// The checks a canary's answer goes through, pure: token agreement with a reference (tolerant of
// engines that are not bit-reproducible), a rule for known-answer prompts, an answer cut short,
// usage inflated. Each returns a verdict and the few words a verification event carries.

/** A check's verdict. */
export interface Verdict {
  pass: boolean;
  detail: string;
}

/** Two greedy answers agree when this share of the shorter one's tokens lines up with the other. */
export const MIN_AGREEMENT = 0.9;
/** An answer under this share of the reference's tokens, without `finish_reason: "length"`, is cut. */
export const MIN_LENGTH_SHARE = 0.5;

/** The words of an answer, lower-cased, punctuation kept apart: the tokens agreement counts. */
export function answerTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** The length of the longest common subsequence of two token lists (bounded: answers are short). */
function commonTokens(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    const row = new Array<number>(b.length + 1).fill(0);
    for (let j = 0; j < b.length; j++) row[j + 1] = x === b[j] ? prev[j] + 1 : Math.max(prev[j + 1], row[j]);
    prev = row;
  }
  return prev[b.length];
}

/**
 * The share of the shorter answer's tokens found in order in the other (1 for two empty
 * answers): engines that drift apart late, or stop early, still agree on what both said.
 */
export function tokenAgreement(a: readonly string[], b: readonly string[]): number {
  const shorter = Math.min(a.length, b.length);
  if (shorter === 0) return a.length === b.length ? 1 : 0;
  return commonTokens(a, b) / shorter;
}

/** A known-answer prompt's rule: the answer must contain `expected` (its tokens, in order). */
export function checkContains(expected: string, answer: string): Verdict {
  const want = answerTokens(expected);
  const share = want.length ? commonTokens(want, answerTokens(answer)) / want.length : 1;
  const pass = share >= MIN_AGREEMENT;
  return { pass, detail: `expected text found ${share.toFixed(2)} ${pass ? ">=" : "<"} ${MIN_AGREEMENT}` };
}

/** What a node answered to a canary. */
export interface CanaryAnswer {
  text: string;
  finishReason: string | null;
}

/** An answer against a reference answer to the same prompt: agreement, then length. */
export function checkAgainstReference(reference: string, answer: CanaryAnswer): Verdict {
  const ref = answerTokens(reference);
  const got = answerTokens(answer.text);
  if (got.length < ref.length * MIN_LENGTH_SHARE && answer.finishReason !== "length") {
    return {
      pass: false,
      detail: `answer cut short: ${got.length} tokens, the reference has ${ref.length}, finish_reason ${
        answer.finishReason ?? "none"
      }`,
    };
  }
  const agreement = tokenAgreement(ref, got);
  const pass = agreement >= MIN_AGREEMENT;
  return { pass, detail: `token agreement ${agreement.toFixed(2)} ${pass ? ">=" : "<"} ${MIN_AGREEMENT}` };
}

/**
 * A node claiming more than this many times our count (plus {@link USAGE_SLACK_TOKENS}) inflates
 * usage. Looser than usageDiverges (the receipts' metering flag, 25 %): engines' tokenizers differ
 * from o200k by up to about 1.5x on these prompts (the built-in engine's tiny test model), and the
 * lie this catches is far larger.
 */
export const MAX_USAGE_RATIO = 2;
/** Tokens of slack on top of the ratio, for short answers. */
export const USAGE_SLACK_TOKENS = 16;

/** The node's reported completion tokens against our count: fails only a claim of far more. */
export function checkUsage(reported: number | null, counted: number): Verdict {
  if (reported === null) return { pass: true, detail: `no usage reported; counted ${counted}` };
  const pass = reported <= counted * MAX_USAGE_RATIO + USAGE_SLACK_TOKENS;
  return {
    pass,
    detail: `completion tokens reported ${reported}, counted ${counted}${pass ? "" : ": usage inflated"}`,
  };
}
