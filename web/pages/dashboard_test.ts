// The dashboard in a real Chromium (Debian's, driven by playwright-core): create a key, sign in (a
// session cookie with no key in it), deposit through the fake processor and watch it credit without
// a reload, run jobs and find them in the usage log and its CSV, see the node on the public page,
// and sign out (the session ends on the server). Screenshots: artifacts/.
import assert from "node:assert/strict";
import { stopNode } from "../../testing/network.ts";
import { runChats } from "../../testing/dashboard.ts";
import { withNodeAndBrowser } from "../../testing/browser.ts";

Deno.test({
  name: "dashboard - key, sign-in, deposit credited live, usage log and CSV, network page, sign-out",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNodeAndBrowser("dashboard", async ({ shot, env, node, browser }) => {
      const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, baseURL: env.url });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      page.on("console", (msg) => {
        if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
      });

      // 1. A key with no account, shown once.
      await page.goto("/keys");
      await page.getByRole("button", { name: "Create an API key" }).click();
      const key = await page.locator("#new-key").inputValue();
      assert.match(key, /^inf_/);
      await page.locator("[data-island=CopyButton] button").waitFor();
      await shot(page, "01-key-created");

      // 2. Sign in on /account by pasting it.
      await page.goto("/account");
      await page.locator("input[name=key]").fill(key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL("**/account");
      assert.equal(await page.locator("[data-stat=balance]").textContent(), "0 USD");
      // The browser holds a session token, never the key: HttpOnly, SameSite=Strict, not Secure on http.
      const cookies = await context.cookies();
      assert.deepEqual(cookies.map((c) => c.name), ["infernet_account"]);
      const [cookie] = cookies;
      assert.ok(cookie.httpOnly && cookie.sameSite === "Strict" && !cookie.secure && cookie.path === "/");
      assert.ok(!cookie.value.includes(key.slice(4)), "no key material in the cookie");
      assert.match(
        await page.locator("table.sessions tbody tr").textContent() ?? "",
        /Chrome.*this browser/,
      );
      await shot(page, "02-signed-in");

      // 3. A deposit: address, amount, QR, and a status that updates itself.
      await page.locator("input[name=amount_usd]").fill("12.50");
      await page.locator("select[name=coin]").selectOption("USDC_SOL");
      await page.getByRole("button", { name: "Deposit" }).click();
      await page.waitForURL("**/account/deposits/*");
      const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
      assert.equal(await page.locator("[data-status]").getAttribute("data-status"), "pending");
      // Without JavaScript the page reloads itself while the deposit is pending.
      assert.match(await page.content(), /<noscript><meta http-equiv="refresh" content="5"><\/noscript>/);
      assert.ok((await page.locator(".address").textContent())!.length > 0);
      assert.match((await page.locator("img.qr").getAttribute("src"))!, /^data:image\//);
      await shot(page, "03-deposit-pending");
      await page.evaluate(() => ((globalThis as { marker?: number }).marker = 42));
      await env.fake.confirm(id);
      await page.locator('[data-status="credited"]').waitFor({ timeout: 10_000 });
      assert.equal(await page.locator(".balance").textContent(), "12.5 USD");
      assert.equal(await page.evaluate(() => (globalThis as { marker?: number }).marker), 42, "no reload");
      await shot(page, "04-deposit-credited");

      // 4. Real jobs with that key through the node; the usage log and the CSV show them.
      await runChats(env, key, ["hello one", "hello two"]);
      await page.goto("/account");
      const rows = page.locator("table.usage tbody tr");
      assert.equal(await rows.count(), 2);
      const first = await rows.first().textContent();
      assert.ok(first!.includes("infernet-test-echo") && first!.includes("completed"), first!);
      assert.ok(first!.includes(node.pubkey.slice(0, 10)), first!);
      await shot(page, "05-usage-log");
      await page.locator("select[name=status]").selectOption("failed");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.getByText("No requests match.").waitFor();
      const csv = await page.request.get("/account/usage.csv");
      assert.equal(csv.status(), 200);
      const lines = (await csv.text()).trim().split("\r\n");
      assert.equal(lines.length, 3, lines.join("\n"));
      assert.match(lines[0], /^time,job_id,model/);
      assert.ok(lines.slice(1).every((l) => l.includes('"infernet-test-echo"') && l.includes('"completed"')));

      // 5. Phone width: the account page still reads, nothing wider than the screen (tables scroll).
      await page.setViewportSize({ width: 375, height: 812 });
      await page.goto("/account");
      await shot(page, "06-account-phone");
      assert.ok(
        await page.evaluate(() => document.documentElement.scrollWidth <= 375),
        "the account page is wider than a 375 px phone",
      );
      await page.setViewportSize({ width: 1000, height: 800 });

      // 6. The public page lists the node and counts the jobs; its island refreshes it.
      await page.goto("/");
      await page.locator("tr.node").first().waitFor();
      assert.ok((await page.locator("tr.node").first().textContent())!.includes(node.pubkey.slice(0, 10)));
      assert.equal(await page.locator("[data-stat=nodes]").textContent(), "1");
      assert.equal(await page.locator("[data-stat=success]").textContent(), "100.0 %");
      await shot(page, "07-network");
      await stopNode(node);
      await page.locator("[data-stat=nodes]", { hasText: "0" }).waitFor({ timeout: 10_000 });
      await shot(page, "08-network-node-gone");

      // 7. Sign out clears the cookie and ends the session: the old cookie, replayed, opens nothing.
      await page.goto("/account");
      await page.locator("form[action='/account/logout'] button").click();
      await page.locator("input[name=key]").waitFor();
      assert.equal((await context.cookies()).find((c) => c.name === "infernet_account"), undefined);
      const replay = await fetch(`${env.url}/account`, {
        headers: { cookie: `${cookie.name}=${cookie.value}` },
      });
      assert.match(await replay.text(), /action="\/account\/login"/);
      await shot(page, "09-signed-out");
      assert.deepEqual(problems, [], "no script errors and no CSP violations");

      // 8. A pending deposit's page, its browser signed out from another tab: it stops polling and
      // says so, rather than showing "updates by itself" forever.
      await page.locator("input[name=key]").fill(key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL("**/account");
      await page.locator("input[name=amount_usd]").fill("5");
      await page.getByRole("button", { name: "Deposit" }).click();
      await page.waitForURL("**/account/deposits/*");
      const other = await context.newPage();
      await other.goto("/account");
      await other.locator("form[action='/account/logout'] button").click();
      await other.locator("input[name=key]").waitFor();
      await other.close();
      await page.getByText("this browser was signed out").waitFor({ timeout: 10_000 });
      await shot(page, "10-deposit-signed-out");
      // The one refused poll is the browser's own console line; nothing else went wrong.
      assert.deepEqual(problems.filter((p) => !/status of 401/.test(p)), []);
    });
  },
});
