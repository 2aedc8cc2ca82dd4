import assert from "node:assert/strict";
import {
  answerTokens,
  checkAgainstReference,
  checkContains,
  checkUsage,
  tokenAgreement,
} from "./answer_checks.ts";

const REF = "Tides rise and fall because the Moon's gravity pulls the oceans toward it.";

Deno.test("answer checks - token agreement counts the shorter answer's tokens found in order", () => {
  assert.deepEqual(answerTokens("Hi, there!"), ["hi", ",", "there", "!"]);
  const a = answerTokens(REF);
  assert.equal(tokenAgreement(a, a), 1);
  assert.equal(tokenAgreement(a, a.slice(0, 5)), 1, "a prefix agrees fully over its own tokens");
  const drift = answerTokens(REF.replace("oceans", "seas"));
  assert.ok(tokenAgreement(a, drift) >= 0.9);
  assert.ok(tokenAgreement(a, answerTokens("Cats purr when they are content and calm.")) < 0.3);
  assert.equal(tokenAgreement([], []), 1);
  assert.equal(tokenAgreement([], ["x"]), 0);
});

Deno.test("answer checks - a reference check passes late drift, fails other text and cut answers", () => {
  assert.ok(
    checkAgainstReference(REF, { text: REF.replace("toward it.", "to it."), finishReason: "stop" }).pass,
  );
  const other = checkAgainstReference(REF, {
    text: "The weather is quite pleasant today and many people enjoy walking near the river.",
    finishReason: "stop",
  });
  assert.equal(other.pass, false);
  assert.match(other.detail, /token agreement 0\.\d\d < 0\.9/);
  const cut = checkAgainstReference(REF, { text: "Tides rise and", finishReason: "stop" });
  assert.equal(cut.pass, false);
  assert.match(cut.detail, /answer cut short: 3 tokens/);
  assert.ok(checkAgainstReference(REF, { text: "Tides rise and", finishReason: "length" }).pass);
});

Deno.test("answer checks - the repeat rule and the usage check", () => {
  const s = "The library opens at nine on weekdays.";
  assert.ok(checkContains(s, `Sure! ${s}`).pass);
  assert.ok(checkContains(s, `"${s.toLowerCase()}"`).pass);
  assert.equal(checkContains(s, "The library opens").pass, false);
  assert.ok(checkUsage(30, 34).pass);
  assert.ok(checkUsage(256, 171).pass, "a tokenizer 1.5x o200k's count is no lie");
  assert.ok(checkUsage(10, 100).pass, "claiming less only costs the node");
  assert.equal(checkUsage(217, 100).pass, false);
  assert.ok(checkUsage(null, 34).pass);
  const inflated = checkUsage(300, 30);
  assert.equal(inflated.pass, false);
  assert.match(inflated.detail, /reported 300, counted 30: usage inflated/);
});
