import assert from "node:assert/strict";
import { ReferenceAnswers } from "./reference_answers.ts";

const TRUE = "Bread rises because yeast turns sugar into carbon dioxide gas.";
const LIE = "The weather is quite pleasant and many people enjoy walking outside.";
const stop = (text: string) => ({ text, finishReason: "stop" });

Deno.test("reference answers - two agreeing nodes make a reference; one liar cannot", () => {
  const suspected = new Set<string>();
  const refs = new ReferenceAnswers((n) => !suspected.has(n));
  // The liar answers first: nothing to compare with, its answer is a candidate only.
  assert.equal(refs.check("m", "p", "liar", stop(LIE)), null);
  // An honest node disagrees with one node: no verdict either way.
  assert.equal(refs.check("m", "p", "a", stop(TRUE)), null);
  // A second honest node agrees with the first: a pass.
  assert.deepEqual(refs.check("m", "p", "b", stop(TRUE))?.pass, true);
  // Now two nodes agree: the liar fails the cross-check.
  const liar = refs.check("m", "p", "liar", stop(LIE));
  assert.equal(liar?.check, "cross_check");
  assert.equal(liar?.pass, false);
  // A third honest node passes; a truncating one is cut short.
  assert.equal(refs.check("m", "p", "c", stop(TRUE))?.pass, true);
  assert.match(refs.check("m", "p", "d", stop("Bread rises"))?.detail ?? "", /cut short/);
  // Other prompts and models are separate.
  assert.equal(refs.check("m2", "p", "a", stop(LIE)), null);
});

Deno.test("reference answers - a node alone is checked against its own earlier answer", () => {
  const refs = new ReferenceAnswers(() => true);
  assert.equal(refs.check("m", "p", "a", stop(TRUE)), null);
  const again = refs.check("m", "p", "a", stop(TRUE));
  assert.deepEqual([again?.check, again?.pass], ["canary", true]);
  assert.equal(refs.check("m", "p", "a", stop(LIE))?.pass, false);
});
