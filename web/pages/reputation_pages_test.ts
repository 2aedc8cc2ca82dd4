// Reputation and receipts on the pages, in a real Chromium (Debian's, driven by playwright-core),
// with real jobs through a real node: the network page shows each node's score (the prior, then
// the one the registry carries, refreshed without a reload); after a job fails on the node, the
// operator page lists its receipt under "Why it moved"; the consumer's usage log links each job
// to its receipt and the link answers the signed receipt. Screenshots: artifacts/reputation/.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { listUsage } from "../../db/mod.ts";
import { verifyPlatformReceipt } from "../../shared/mod.ts";
import { withNodeAndBrowser } from "../../testing/browser.ts";
import { createTestKey } from "../../testing/control_plane.ts";
import { accountCookie, type DashboardEnv } from "../../testing/dashboard.ts";
import { issueSessionToken, SESSION_COOKIE } from "../auth/session.ts";
import { formatSamples, formatScore } from "./reputation_view.ts";

async function chat(env: DashboardEnv, key: string, content: string): Promise<number> {
  const res = await fetch(`${env.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "infernet-test-echo", messages: [{ role: "user", content }] }),
  });
  await res.body?.cancel();
  return res.status;
}

function cookie(env: DashboardEnv, name: string, value: string) {
  return { name, value, url: env.url, httpOnly: true, sameSite: "Strict" as const };
}

/** Follows a receipt link in the page and checks what it answers: the job's signed receipt. */
async function followReceipt(page: Page, link: ReturnType<Page["locator"]>, jobId: string, platform: string) {
  assert.equal(await link.getAttribute("href"), `/api/receipts/${jobId}`);
  const [res] = await Promise.all([page.waitForResponse(`**/api/receipts/${jobId}`), link.click()]);
  assert.equal(res.status(), 200);
  assert.match(res.headers()["content-type"], /application\/json/);
  const body = await res.json();
  assert.equal(body.job_id, jobId);
  const checked = verifyPlatformReceipt(body.receipts[0].receipt, platform);
  assert.ok(checked.ok, checked.ok ? "" : checked.reason);
  assert.equal(checked.value.content.task_id, jobId);
  await page.goBack();
  return checked.value.content;
}

Deno.test({
  name: "reputation pages - node score, why it moved after a failed job, usage rows link their receipts",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNodeAndBrowser("reputation", async ({ shot, env, engine, node, browser }) => {
      const cp = env.tcp.cp;
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, baseURL: env.url });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));

      // 1. The network page: the node with the prior score, linked to its receipts and reputation.
      await page.goto("/");
      const row = page.locator(`tr[data-node="${node.pubkey}"]`);
      assert.equal(await row.locator("[data-stat=score]").textContent(), "0.74 (prior)");
      assert.equal(
        await row.getByRole("link", { name: /^receipts of node/ }).getAttribute("href"),
        `/api/receipts?node=${node.pubkey}`,
      );
      assert.match(
        (await row.getByRole("link", { name: /^reputation of node/ }).getAttribute("href"))!,
        /^\/api\/reputation\/npub1[02-9ac-hj-np-z]{58}$/,
      );
      await shot(page, "01-network-prior");
      // The router's reputation for the node (as the reputation service sets it) shows up live.
      cp.registry.setReputation(node.pubkey, {
        score: 0.62,
        suspicion: 0.2,
        reliability: 0.775,
        samples: 9,
        ttftMs: 41,
        tokensPerSecond: 88.5,
        updatedAt: 1,
      });
      await row.locator("[data-stat=score]", { hasText: /^0\.62$/ }).waitFor();
      assert.equal(await row.locator("[data-stat=suspicion]").textContent(), "0.20");
      assert.match((await row.textContent())!, /41 ms.*88\.5 tok\/s/);
      const snapshot = await (await page.request.get("/network.json")).json();
      assert.equal(snapshot.nodes[0].reputation.score, 0.62);
      await shot(page, "02-network-score");

      // 2. Real jobs: one served, one the engine refuses.
      const { key, id: keyId } = await createTestKey(cp.db.sql, 5_000_000_000n);
      assert.equal(await chat(env, key, "fine"), 200);
      engine.configure({ failure: "refuse" });
      assert.notEqual(await chat(env, key, "refused"), 200);
      engine.configure({ failure: "none" });
      await cp.recorder.flush();
      const usage = await listUsage(cp.db.sql, keyId);
      const served = usage.find((u) => u.status === "completed")!;
      const failed = usage.find((u) => u.status !== "completed")!;
      assert.ok(served && failed, JSON.stringify(usage.map((u) => u.status)));
      for (const job of [served, failed]) {
        assert.ok(await cp.receipts.whenReceipted(job.jobId, node.pubkey), `receipt of ${job.jobId}`);
      }

      // 3. The operator page: the reputation section lists the failed job's receipt, linked.
      const { token } = await issueSessionToken(cp, node.pubkey);
      await context.addCookies([cookie(env, SESSION_COOKIE, token)]);
      await page.goto("/operator");
      const section = page.locator("section#reputation");
      // The jobs' receipts made the reputation service recompute the score from them (formula 1).
      const live = cp.registry.get(node.pubkey)!.reputation;
      assert.equal(await section.locator("[data-stat=score]").textContent(), formatScore(live.score));
      assert.equal(await section.locator("[data-stat=samples]").textContent(), formatSamples(live.samples));
      const against = section.locator("table.against tbody tr");
      assert.equal(await against.count(), 1, "only the failed job counted against the node");
      assert.equal(await against.getAttribute("data-receipt"), failed.jobId);
      assert.match((await against.textContent())!, /failed \(engine_\w+\)/);
      await section.getByText("No check of this node's work yet.").waitFor();
      await shot(page, "03-operator-reputation");
      const failure = await followReceipt(
        page,
        against.getByRole("link", { name: `receipt of job ${failed.jobId}` }),
        failed.jobId,
        cp.platformKey.pubkey,
      );
      assert.equal(failure.outcome, "failure");
      assert.equal(failure.agent_did, `did:nostr:${node.pubkey}`);

      // 4. The consumer's usage log: each job that reached the node links to its receipt.
      await context.clearCookies();
      const [name, value] = (await accountCookie(cp.db.sql, key)).split("=");
      await context.addCookies([cookie(env, name, value)]);
      await page.goto("/account");
      const servedRow = page.locator(`table.usage tr[data-job="${served.jobId}"]`);
      const content = await followReceipt(
        page,
        servedRow.getByRole("link", { name: `receipt of job ${served.jobId}` }),
        served.jobId,
        cp.platformKey.pubkey,
      );
      assert.equal(content.outcome, "success");
      assert.equal(
        await page.locator(`table.usage tr[data-job="${failed.jobId}"] a.receipt`).getAttribute("href"),
        `/api/receipts/${failed.jobId}`,
      );
      await shot(page, "04-usage-receipts");
      assert.deepEqual(problems, []);
    });
  },
});
