// Operator login in a real Chromium (Debian's, driven by playwright-core): `infernet login` runs
// as a subprocess, the browser opens its link and submits the code, the CLI approves (--yes),
// and the browser lands signed in (HttpOnly cookie); sign-out from the nav; then "Sign in with
// Nostr" through a window.nostr shim whose signing happens in Deno with nostr-tools. Also: the
// pages without JavaScript, and at phone width. Screenshots: artifacts/login/.
import assert from "node:assert/strict";
import { finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { createNodeRecord, verifyNodeRecord } from "../shared/mod.ts";
import { cliCommand, sampleAdvert, watchOutput } from "../testing/mod.ts";
import { createIdentity } from "../cli/identity/node_key.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { dumpOpenPages, launchChromium, screenshots } from "../testing/browser.ts";

Deno.test({
  name:
    "login page - infernet login approves this browser; sign out; Sign in with Nostr; no-JS and phone width",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const shot = await screenshots("login");
    const tcp = await openTestControlPlane({ serve: true });
    const url = tcp.server!.url;
    const home = await Deno.makeTempDir({ prefix: "infernet-login-ui-" });
    const identity = await createIdentity(home);
    const record = verifyNodeRecord(
      createNodeRecord(identity.secretKey, sampleAdvert({ name: "login-test-node" })),
    );
    assert.ok(record.ok);
    await tcp.cp.registry.register(record.record);
    const browser = await launchChromium();
    let child: Deno.ChildProcess | null = null;
    try {
      const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, baseURL: url });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      page.on("console", (msg) => {
        if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
      });

      // 1. No extension in this context: /login explains both ways.
      await page.goto("/login?next=/operator");
      await page.locator("[data-nostr=absent]").waitFor();
      assert.ok((await page.content()).includes("infernet login"));
      await shot(page, "01-login");

      // 2. The CLI, as an operator runs it; the browser follows its link.
      const cmd = cliCommand(["login", "--server", url, "--yes"], { INFERNET_HOME: home });
      child = cmd.spawn();
      const out = watchOutput(child.stdout);
      const err = watchOutput(child.stderr);
      const [, link] = await out.waitFor(/open (http\S+\/login\/device\?code=[A-Z]{4}-[A-Z]{4})/);
      await page.goto(link);
      const code = await page.locator("input[name=code]").inputValue();
      assert.match(link, new RegExp(`code=${code}$`));
      await shot(page, "02-device-code");
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForURL("**/login/device/wait**");
      await shot(page, "03-waiting");
      // The CLI sees this browser and approves it; the page's next refresh signs it in.
      await page.waitForURL((u) => u.pathname === "/operator", { timeout: 30_000 });
      const status = await child.status;
      await out.done;
      await err.done;
      child = null;
      assert.equal(status.code, 0, `${out.text()}\n${err.text()}`);
      assert.match(out.text(), /a browser entered the code: 127\.0\.0\.1 \(Mozilla\/5\.0 .*HeadlessChrome/);
      const session = (await context.cookies()).find((c) => c.name === "infernet_session");
      assert.ok(session?.httpOnly && session.sameSite === "Strict", JSON.stringify(session));
      assert.equal((await context.cookies()).find((c) => c.name === "infernet_login"), undefined);
      assert.ok(
        (await page.content()).includes(identity.pubkey.slice(0, 16)),
        "the operator page shows the node",
      );
      await shot(page, "04-signed-in-operator");

      // 3. Sign out from the nav: the cookie is gone and /operator asks to log in again.
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL((u) => u.pathname === "/login");
      assert.equal((await context.cookies()).find((c) => c.name === "infernet_session"), undefined);
      await page.goto("/operator");
      await page.waitForURL("**/login?next=%2Foperator");

      // 4. Sign in with Nostr: window.nostr is a shim; the key stays in Deno, which signs.
      const nostrContext = await browser.newContext({ viewport: { width: 1000, height: 800 }, baseURL: url });
      const signed: NostrEvent[] = [];
      await nostrContext.exposeFunction(
        "__infernetTestSign",
        (template: Omit<NostrEvent, "id" | "sig" | "pubkey">) => {
          const event = finalizeEvent(template, identity.secretKey);
          signed.push(event);
          return { ...event };
        },
      );
      await nostrContext.exposeFunction("__infernetTestPubkey", () => identity.pubkey);
      await nostrContext.addInitScript(() => {
        const w = globalThis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>> & {
          nostr?: unknown;
        };
        w.nostr = {
          getPublicKey: () => w.__infernetTestPubkey(),
          signEvent: (e: unknown) => w.__infernetTestSign(e),
        };
      });
      const npage = await nostrContext.newPage();
      npage.setDefaultTimeout(15_000);
      npage.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      npage.on("console", (msg) => {
        if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
      });
      await npage.goto("/login?next=/operator");
      const button = npage.getByRole("button", { name: "Sign in with Nostr" });
      await npage.locator(".nostr-login button:not([disabled])").waitFor();
      await shot(npage, "05-nostr-ready");
      await button.click();
      await npage.waitForURL((u) => u.pathname === "/operator");
      assert.equal(signed.length, 1);
      assert.equal(signed[0].kind, 27235);
      assert.deepEqual(signed[0].tags.slice(0, 2), [["u", `${url}/login/nostr`], ["method", "POST"]]);
      const nostrSession = (await nostrContext.cookies()).find((c) => c.name === "infernet_session");
      assert.ok(nostrSession?.httpOnly);
      await shot(npage, "06-nostr-signed-in");

      // 5. Without JavaScript the login pages still read and say what to do; and at phone width.
      const noJs = await browser.newContext({
        javaScriptEnabled: false,
        baseURL: url,
        viewport: { width: 390, height: 844 },
      });
      const plain = await noJs.newPage();
      await plain.goto("/login");
      assert.ok((await plain.content()).includes("Without them, use"));
      await shot(plain, "07-login-phone-nojs");
      await plain.goto("/login/device?code=BCDF-GHJK");
      assert.equal(await plain.locator("input[name=code]").inputValue(), "BCDF-GHJK");
      await shot(plain, "08-device-phone-nojs");

      assert.deepEqual(problems, [], "no script errors and no CSP violations");
    } catch (e) {
      await dumpOpenPages(browser, shot);
      throw e;
    } finally {
      if (child) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        await child.status;
      }
      await browser.close();
      await tcp.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
