import assert from "node:assert/strict";
import { h } from "preact";
import { renderToString } from "preact-render-to-string";
import { ReputationSection } from "./ReputationSection.tsx";
import { reputationOf, type ReputationPanel } from "./reputation_view.ts";

const NODE = "ab".repeat(32);

function panel(over: Partial<ReputationPanel> = {}): ReputationPanel {
  return {
    pubkey: NODE,
    npub: "npub1test",
    reputation: reputationOf(undefined),
    against: [],
    verifications: [],
    ...over,
  };
}

Deno.test("reputation section - a new node: the prior, nothing against it, no check yet", () => {
  const html = renderToString(h(ReputationSection, { panel: panel() }));
  assert.match(html, /data-stat="score">0\.74<\/span>\s*score \(the prior: no receipt counted yet\)/);
  assert.match(html, /No receipt has counted against this node\./);
  assert.ok(html.includes("No check of this node&#39;s work yet."));
  assert.ok(html.includes(`href="/api/reputation/npub1test"`));
  assert.ok(html.includes(`href="/api/receipts?node=${NODE}"`));
});

Deno.test("reputation section - receipts against the node and verifications, each linked to its receipt", () => {
  const html = renderToString(h(ReputationSection, {
    panel: panel({
      against: [{
        jobId: "job_2",
        seq: 2,
        createdAt: 1_800_000_000,
        outcome: "timeout",
        cancelledBy: null,
        errorCode: null,
        signed: false,
        meteringDisagrees: false,
        artifactMismatch: false,
      }],
      verifications: [{
        eventId: "e1",
        jobId: "job_9",
        check: "cross_check",
        result: "fail",
        detail: "<b>token agreement 0.4</b>",
        createdAt: 1_800_000_100,
      }],
    }),
  }));
  const against = /<tr\s+data-receipt="job_2"[^>]*>(.*?)<\/tr>/.exec(html)?.[1] ?? "";
  assert.match(against, /2027-01-15<\/span> 08:00:00/);
  assert.match(against, /href="\/api\/receipts\/job_2"/);
  assert.match(against, /timed out; the node did not sign its receipt/);
  const check = /<tr\s+data-verification="e1">(.*?)<\/tr>/.exec(html)?.[1] ?? "";
  assert.match(check, /<td>cross check<\/td><td class="result fail">fail<\/td>/);
  assert.ok(check.includes("&lt;b>token agreement 0.4&lt;/b>"), "the detail is escaped");
  assert.match(check, /href="\/api\/receipts\/job_9" aria-label="receipt of job job_9"/);
});
