// The operator's page in a real Chromium (Debian's, driven by playwright-core): an operator signed
// in with `infernet login` (device code, approved from the CLI) sees their node, its jobs and the earnings chart, sets a payout address (a bad one
// first), requests a payout through the fake CoinPayPortal and finds it in the history.
// Screenshots at desktop and phone width: artifacts/operator/.
import assert from "node:assert/strict";
import { fundOperatorEarnings } from "../../testing/funding.ts";
import { cliCommand, watchOutput } from "../../testing/mod.ts";
import { createTestKey } from "../../testing/control_plane.ts";
import { runChats } from "../../testing/dashboard.ts";
import { artifactsDir, withNodeAndBrowser } from "../../testing/browser.ts";

const SOL = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

Deno.test({
  name: "operator page - node, jobs and chart; a payout address; a payout paid and in the history",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNodeAndBrowser("operator", async ({ shot, env, node, browser }) => {
      // Enough earnings for a payout (the minimum is 10 USD: one settled job of the node's), then
      // real jobs through the node.
      await fundOperatorEarnings(env.tcp.cp.db.sql, node.pubkey, 12_340_000_000n);
      const { key } = await createTestKey(env.tcp.cp.db.sql, 5_000_000_000n);
      await runChats(env, key, ["hi one", "hi two", "hi three"]);

      const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, baseURL: env.url });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      page.on("console", (msg) => {
        // The refused address form answers 400 on purpose; Chromium logs every 4xx document.
        if (msg.type() === "error" && !/status of 400 \(Bad Request\)/.test(msg.text())) {
          problems.push(`console: ${msg.text()}`);
        }
      });

      // 1. Signed out: sent to the login page, which comes back here.
      await page.goto("/operator");
      assert.match(page.url(), /\/login\?next=%2Foperator$/);

      // 2. Signed in as an operator does it: `infernet login` on the node (its own key) shows a
      // link; this browser follows it, and the CLI approves the browser that entered the code.
      const login = cliCommand(["login", "--server", env.url, "--yes"], { INFERNET_HOME: node.home }).spawn();
      const out = watchOutput(login.stdout);
      const err = watchOutput(login.stderr);
      const [, link] = await out.waitFor(/open (http\S+\/login\/device\?code=[A-Z]{4}-[A-Z]{4})/);
      await page.goto(link);
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForURL((u) => u.pathname === "/operator", { timeout: 30_000 });
      const status = await login.status;
      await Promise.all([out.done, err.done]);
      assert.equal(status.code, 0, `${out.text()}\n${err.text()}`);
      await page.goto("/operator");
      assert.equal(await page.locator("[data-stat=state]").textContent(), "online");
      assert.ok((await page.locator("#node").textContent())!.includes(node.pubkey));
      assert.equal(await page.locator("table.jobs tbody tr").count(), 4);
      const firstJob = await page.locator("table.jobs tbody tr").first().textContent();
      assert.ok(firstJob!.includes("infernet-test-echo") && firstJob!.includes("completed"), firstJob!);
      assert.equal(await page.locator("table.models tbody tr").count() >= 1, true);
      const today = new Date().toISOString().slice(0, 10);
      const bar = page.locator(`svg.earnings-chart rect.bar[data-day="${today}"]`);
      assert.equal(await bar.count(), 1);
      assert.ok(Number(await bar.getAttribute("height")) > 0);
      assert.equal(await page.getByRole("img", { name: "Earnings per day, last 30 days" }).count(), 1);
      await page.getByText("Set a payout address first.").waitFor();
      await shot(page, "01-operator-desktop");

      // 3. A payout address: a bad one is refused and kept for correction, then a good one.
      const add = page.locator("form.address-form.add");
      await add.locator("select[name=coin]").selectOption("USDC_SOL");
      await add.locator("input[name=address]").fill("not-a-solana-address");
      await add.getByRole("button", { name: "Save address" }).click();
      await page.locator("form.address-form [role=alert]").waitFor();
      assert.match(
        (await page.locator("form.address-form [role=alert]").textContent())!,
        /not a valid USDC_SOL/,
      );
      assert.equal(await add.locator("input[name=address]").inputValue(), "not-a-solana-address");
      assert.equal(await add.locator("select[name=coin]").inputValue(), "USDC_SOL");
      await shot(page, "02-address-refused");
      await add.locator("input[name=address]").fill(SOL);
      await add.getByRole("button", { name: "Save address" }).click();
      await page.waitForURL("**/operator?notice=address_saved*");
      assert.match((await page.locator("[role=status]").textContent())!, /USDC_SOL payout address is saved/);
      assert.equal(await page.locator('form.address-form input[name=coin][value="USDC_SOL"]').count(), 1);

      // 4. A payout of everything in whole cents, paid by the fake processor.
      await page.locator("form.payout-form select[name=coin]").selectOption("USDC_SOL");
      await page.getByRole("button", { name: "Pay out 12.34 USD" }).click();
      await page.waitForURL("**/operator?notice=payout&payout=*");
      assert.match(
        (await page.locator("[role=status]").textContent())!,
        /of 12\.34 USD to your USDC_SOL address was paid/,
      );
      const row = await page.locator("table.payouts tbody tr").first().textContent();
      assert.ok(row!.includes("completed") && row!.includes("USDC_SOL") && row!.includes("12.34"), row!);
      assert.equal(env.fake.payouts.length, 1);
      assert.equal(env.fake.payouts[0].recipientWallet, SOL);
      assert.equal(await page.locator("[data-stat=paid]").textContent(), "12.34 USD");
      // Reloading the result repeats nothing.
      await page.reload();
      assert.equal(env.fake.payouts.length, 1);
      await shot(page, "03-payout-paid");

      // 5. Phone width: the same page still reads.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto("/operator");
      const overflow = await page.evaluate(() =>
        document.documentElement.scrollWidth - document.documentElement.clientWidth
      );
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at phone width`);
      await shot(page, "04-operator-phone");
      await page.locator("#earnings").screenshot({
        path: `${artifactsDir("operator")}05-earnings-phone.png`,
      });
      await page.locator("#jobs").screenshot({ path: `${artifactsDir("operator")}06-jobs-phone.png` });
      await page.locator("#payouts").screenshot({ path: `${artifactsDir("operator")}07-payouts-phone.png` });

      assert.deepEqual(problems, [], "no script errors and no CSP violations");
    });
  },
});
