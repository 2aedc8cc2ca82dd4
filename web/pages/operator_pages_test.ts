// The operator's pages without JavaScript, on a served control plane with a real database: the
// session gate, each section with real jobs from a real node, keyset pagination, payout addresses,
// payouts (minimum, double submit), cross-site posts, and one operator never seeing another's data.
import assert from "node:assert/strict";
import { fundOperatorEarnings } from "../../testing/funding.ts";
import { testJobRow } from "../../testing/job_row.ts";
import { insertJobs, type JobRow, listPayouts, setPayoutAddress } from "../../db/mod.ts";
import { payoutDepsOf } from "../payments/operator_payouts.ts";
import { requestPayout, resumeOpenPayouts } from "../payments/payouts.ts";
import { startTestEngine } from "../../testing/test_engine.ts";
import { issueSessionToken } from "../auth/session.ts";
import { startNode, stopNode } from "../../testing/network.ts";
import { createTestKey } from "../../testing/control_plane.ts";
import { type DashboardEnv, runChats, startDashboard } from "../../testing/dashboard.ts";

const BTC = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const SOL = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

function randomPubkey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

async function sessionCookie(env: DashboardEnv, pubkey: string): Promise<string> {
  return `infernet_session=${(await issueSessionToken(env.tcp.cp, pubkey)).token}`;
}

function get(env: DashboardEnv, path: string, cookie?: string): Promise<Response> {
  return fetch(env.url + path, { redirect: "manual", headers: cookie ? { cookie } : {} });
}

function post(
  env: DashboardEnv,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(env.url + path, {
    method: "POST",
    redirect: "manual",
    headers: { origin: env.url, "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields),
  });
}

async function page(env: DashboardEnv, path: string, cookie: string): Promise<string> {
  const res = await get(env, path, cookie);
  assert.equal(res.status, 200, path);
  return await res.text();
}

function payoutToken(html: string): string {
  const token = /<input type="hidden" name="token" value="([0-9a-f]{32})"/.exec(html)?.[1];
  assert.ok(token, "the payout form carries a token");
  return token;
}

function job(id: string, nodePubkey: string, createdAt: Date, model = "tiny"): JobRow {
  return testJobRow(id, { nodePubkey, createdAt, finishedAt: createdAt, model });
}

async function withDashboard(fn: (env: DashboardEnv) => Promise<void>): Promise<void> {
  const env = await startDashboard();
  try {
    await fn(env);
  } finally {
    await env.close();
  }
}

Deno.test("operator pages - without a valid session every route redirects to /login", async () => {
  await withDashboard(async (env) => {
    for (const cookie of [undefined, "infernet_session=not.a.token"]) {
      const res = await get(env, "/operator?before=1", cookie);
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("location"), `/login?next=${encodeURIComponent("/operator?before=1")}`);
      await res.body?.cancel();
    }
    for (const path of ["/operator/payout-address", "/operator/payouts"]) {
      const res = await post(env, path, { coin: "BTC", address: BTC });
      assert.equal(res.status, 303);
      assert.match(res.headers.get("location")!, /^\/login\?next=/);
      await res.body?.cancel();
    }
  });
});

Deno.test({
  name:
    "operator pages - node, models and prices, jobs, earnings and chart from real jobs, without JavaScript",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDashboard(async (env) => {
      const engine = await startTestEngine();
      const node = await startNode({ cp: env.tcp.cp, url: env.url }, engine.url);
      try {
        const { key } = await createTestKey(env.tcp.cp.db.sql, 5_000_000_000n);
        await runChats(env, key, ["one", "two", "three"]);
        const cookie = await sessionCookie(env, node.pubkey);
        const res = await get(env, "/operator", cookie);
        assert.equal(res.status, 200);
        const csp = res.headers.get("content-security-policy") ?? "";
        assert.match(csp, /script-src 'self'/);
        assert.match(csp, /style-src 'self'/);
        const html = await res.text();
        assert.doesNotMatch(html, /<script/, "the page needs no script at all");
        assert.doesNotMatch(html, / style="/, "no inline style (the CSP forbids it)");

        const record = env.tcp.cp.registry.get(node.pubkey)!.record;
        assert.match(html, /data-stat="state">online</);
        assert.match(html, new RegExp(`<code>${node.pubkey}</code>`));
        assert.match(html, new RegExp(`data-stat="tier">${record.vramTier}<`));
        assert.match(html, /gateway \(outbound job socket\)/);
        assert.match(html, /\(test engine\)/);
        assert.match(html, /success, last 24 h \(3\/3 jobs\)/);
        const m = record.models.find((x) => x.id === "infernet-test-echo")!;
        const usd = (n: number) => (n / 1e9).toString();
        assert.ok(html.includes(`<td>infernet-test-echo</td>`));
        assert.ok(
          html.includes(`${usd(m.promptPricePer1k)} USD / 1k`),
          "prompt price as /v1/models shows it",
        );
        assert.ok(html.includes(`${usd(m.completionPricePer1k)} USD / 1k`));

        const rows = [...html.matchAll(/<tr\s+data-job="[^"]+">(.*?)<\/tr>/g)].map((r) => r[1]);
        assert.equal(rows.length, 3);
        for (const row of rows) {
          assert.match(
            row,
            /<td>infernet-test-echo<\/td><td>completed<\/td><td>\d+ \/ \d+<\/td><td>0\.0000\d+<\/td>/,
          );
        }
        assert.doesNotMatch(html, /rel="next"/, "one page only");

        const pending = /data-stat="pending">([\d.]+) USD</.exec(html)?.[1];
        assert.ok(pending && Number(pending) > 0, `pending earnings: ${pending}`);
        assert.match(html, /data-stat="paid">0 USD</);
        assert.match(html, /Minimum payout 10 USD; paid automatically once earnings reach 50 USD/);
        const today = new Date().toISOString().slice(0, 10);
        assert.match(html, new RegExp(`<rect class="bar" data-day="${today}"`));
        assert.match(html, /<title>\d{4}-\d\d-\d\d: [\d.]+ USD, 3 jobs<\/title>/);
        assert.match(html, new RegExp(`<td>${today}</td><td>${pending.replace(".", "\\.")}</td><td>3</td>`));
        assert.match(html, /None yet: set one to be paid\./);
        assert.match(html, /Set a payout address first\./);
        assert.match(html, /No payouts yet\./);
      } finally {
        await stopNode(node);
        await engine.close();
      }
    });
  },
});

Deno.test("operator pages - jobs page newest first with an Older link (keyset), model names escaped", async () => {
  await withDashboard(async (env) => {
    const pubkey = randomPubkey();
    const t0 = Date.now() - 3_600_000;
    await insertJobs(
      env.tcp.cp.db.sql,
      Array.from(
        { length: 120 },
        (_, i) => job(`j${String(i).padStart(3, "0")}`, pubkey, new Date(t0 + i * 1000)),
      ),
    );
    await insertJobs(env.tcp.cp.db.sql, [
      job("evil", pubkey, new Date(t0 - 1000), `<img src=x onerror=alert(1)>`),
    ]);
    const cookie = await sessionCookie(env, pubkey);
    const seen: string[] = [];
    let path: string | null = "/operator";
    let pages = 0;
    while (path && pages < 5) {
      const html = await page(env, path, cookie);
      seen.push(...[...html.matchAll(/<tr\s+data-job="([^"]+)"/g)].map((m) => m[1]));
      const older = /<a href="([^"]+)" rel="next">Older<\/a>/.exec(html)?.[1]?.replaceAll("&amp;", "&");
      if (pages > 0) assert.match(html, /<a href="\/operator#jobs">Newest<\/a>/);
      if (!older) assert.match(html, /&lt;img src=x onerror=alert\(1\)>/);
      path = older ?? null;
      pages++;
    }
    assert.equal(pages, 3);
    assert.equal(seen.length, 121);
    assert.equal(new Set(seen).size, 121);
    assert.deepEqual(seen.slice(0, 2), ["j119", "j118"]);
    assert.equal(seen.at(-1), "evil");
  });
});

Deno.test("operator pages - payout addresses: a good one is saved, a bad one refused with what was typed", async () => {
  await withDashboard(async (env) => {
    const pubkey = randomPubkey();
    const cookie = await sessionCookie(env, pubkey);
    const bad = await post(env, "/operator/payout-address", { coin: "BTC", address: "bc1-not<b>valid" }, {
      cookie,
    });
    assert.equal(bad.status, 400);
    const badHtml = await bad.text();
    assert.match(badHtml, /role="alert">not a valid BTC address/);
    assert.match(badHtml, /value="bc1-not&lt;b>valid"/, "what was typed is kept, escaped");
    // The page opens at the top: the refusal is said there as well, before anything else.
    const firstAlert = badHtml.indexOf('role="alert"');
    assert.ok(firstAlert >= 0 && firstAlert < badHtml.indexOf("<h2"), "the refusal is at the top");
    assert.match(badHtml, /role="alert">The payout address was not saved: not a valid BTC address/);

    const good = await post(env, "/operator/payout-address", { coin: "BTC", address: BTC }, { cookie });
    assert.equal(good.status, 303);
    assert.equal(good.headers.get("location"), "/operator?notice=address_saved&coin=BTC#addresses");
    const html = await page(env, good.headers.get("location")!, cookie);
    assert.match(html, /role="status">Your BTC payout address is saved\./);
    assert.match(html, new RegExp(`<input type="hidden" name="coin" value="BTC">.*value="${BTC}"`, "s"));
    assert.match(
      html,
      /<select name="coin"><option\s+value="BTC">BTC<\/option><\/select>/,
      "pay to BTC only",
    );

    // Replacing with a bad address keeps the stored one and shows the typed one with the error.
    const replaced = await post(env, "/operator/payout-address", { coin: "BTC", address: "nope" }, {
      cookie,
    });
    assert.equal(replaced.status, 400);
    assert.match(await replaced.text(), /value="nope"/);
    const unknown = await post(env, "/operator/payout-address", { coin: "FOO", address: "x" }, { cookie });
    assert.equal(unknown.status, 400);
    await unknown.body?.cancel();
    const again = await page(env, "/operator", cookie);
    assert.ok(again.includes(`value="${BTC}"`));
  });
});

Deno.test("operator pages - payouts: refused below the minimum, paid above it, a double submit pays once", async () => {
  await withDashboard(async (env) => {
    const pubkey = randomPubkey();
    const cookie = await sessionCookie(env, pubkey);
    const sql = env.tcp.cp.db.sql;
    let res = await post(env, "/operator/payout-address", { coin: "USDC_SOL", address: SOL }, { cookie });
    assert.equal(res.status, 303);
    await res.body?.cancel();
    await fundOperatorEarnings(sql, pubkey, 4_000_000_000n);

    let html = await page(env, "/operator", cookie);
    assert.match(html, /below the minimum payout of 10 USD/);
    res = await post(env, "/operator/payouts", { coin: "USDC_SOL", token: payoutToken(html) }, { cookie });
    assert.equal(res.status, 409);
    assert.match(await res.text(), /role="alert">earnings of \$4 are below the minimum payout of \$10/);
    assert.equal((await listPayouts(sql, pubkey)).length, 0);
    assert.equal(env.fake.payouts.length, 0);

    await fundOperatorEarnings(sql, pubkey, 8_345_678_901n);
    html = await page(env, "/operator", cookie);
    assert.match(html, /<button type="submit"\s*>Pay out 12\.34 USD<\/button>/);
    const token = payoutToken(html);
    // A double click: the same form twice at once, then once more later.
    const [a, b] = await Promise.all([
      post(env, "/operator/payouts", { coin: "USDC_SOL", token }, { cookie }),
      post(env, "/operator/payouts", { coin: "USDC_SOL", token }, { cookie }),
    ]);
    const c = await post(env, "/operator/payouts", { coin: "USDC_SOL", token }, { cookie });
    const locations = [a, b, c].map((r) => (assert.equal(r.status, 303), r.headers.get("location")!));
    await Promise.all([a, b, c].map((r) => r.body?.cancel()));
    const payouts = await listPayouts(sql, pubkey);
    assert.equal(payouts.length, 1, "one payout");
    assert.equal(env.fake.payouts.length, 1, "paid once");
    const id = payouts[0].id;
    assert.equal(locations.filter((l) => l === `/operator?notice=payout&payout=${id}#payouts`).length, 1);
    assert.equal(locations.filter((l) => l.startsWith("/operator?notice=payout_repeated")).length, 2);
    assert.ok(locations.includes(`/operator?notice=payout_repeated&payout=${id}#payouts`), locations.join());

    html = await page(env, `/operator?notice=payout&payout=${id}`, cookie);
    assert.match(
      html,
      new RegExp(`role="status">Payout #${id} of 12\\.34 USD to your USDC_SOL address was paid`),
    );
    const row = new RegExp(`<tr\\s+data-payout="${id}">(.*?)</tr>`).exec(html)?.[1] ?? "";
    assert.match(
      row,
      /<td data-status="completed">completed<\/td><td>12\.34 USD<div class="muted">12\.34 USDC_SOL<\/div><\/td><td><code class="tx">/,
    );
    assert.match(html, /data-stat="paid">12\.34 USD</);
    assert.match(html, /data-stat="pending">0\.005678901 USD</);
    html = await page(env, `/operator?notice=payout_repeated&payout=${id}`, cookie);
    assert.match(html, new RegExp(`already sent \\(payout #${id}\\); nothing was paid twice`));

    // A fresh form now: what is left is below the minimum, and says so.
    res = await post(env, "/operator/payouts", { coin: "USDC_SOL", token: payoutToken(html) }, { cookie });
    assert.equal(res.status, 409);
    await res.body?.cancel();
    assert.equal((await listPayouts(sql, pubkey)).length, 1);
  });
});

Deno.test("operator pages - cross-site posts are refused and change nothing", async () => {
  await withDashboard(async (env) => {
    const pubkey = randomPubkey();
    const cookie = await sessionCookie(env, pubkey);
    await fundOperatorEarnings(env.tcp.cp.db.sql, pubkey, 20_000_000_000n);
    const evil = { cookie, origin: "https://evil.example" };
    const address = await post(env, "/operator/payout-address", { coin: "BTC", address: BTC }, evil);
    assert.equal(address.status, 403);
    await address.body?.cancel();
    const payout = await post(env, "/operator/payouts", { coin: "BTC", token: "a".repeat(32) }, evil);
    assert.equal(payout.status, 403);
    await payout.body?.cancel();
    const html = await page(env, "/operator", cookie);
    assert.match(html, /None yet: set one to be paid\./);
    assert.equal((await listPayouts(env.tcp.cp.db.sql, pubkey)).length, 0);
    assert.equal(env.fake.payouts.length, 0);
  });
});

Deno.test("operator pages - an operator never sees another operator's jobs, addresses or payouts", async () => {
  await withDashboard(async (env) => {
    const alice = randomPubkey();
    const bob = randomPubkey();
    const sql = env.tcp.cp.db.sql;
    await insertJobs(sql, [job("alice_job", alice, new Date())]);
    await fundOperatorEarnings(sql, alice, 11_000_000_000n);
    const aliceCookie = await sessionCookie(env, alice);
    let res = await post(env, "/operator/payout-address", { coin: "BTC", address: BTC }, {
      cookie: aliceCookie,
    });
    await res.body?.cancel();
    const html = await page(env, "/operator", aliceCookie);
    res = await post(env, "/operator/payouts", { coin: "BTC", token: payoutToken(html) }, {
      cookie: aliceCookie,
    });
    assert.equal(res.status, 303);
    await res.body?.cancel();
    const [alicePayout] = await listPayouts(sql, alice);

    const bobCookie = await sessionCookie(env, bob);
    const bobs = await page(env, `/operator?notice=payout&payout=${alicePayout.id}`, bobCookie);
    assert.ok(bobs.includes(bob.slice(0, 16)));
    for (const secret of ["alice_job", BTC, alice.slice(0, 16), "11 USD", "Payout #"]) {
      assert.ok(!bobs.includes(secret), `bob's page shows ${secret}`);
    }
    assert.match(bobs, /No jobs yet\./);
    assert.match(bobs, /No payouts yet\./);
    assert.match(bobs, /data-stat="pending">0 USD</);
    // Bob paying out finds no address of his own, and Alice's money stays hers.
    res = await post(env, "/operator/payouts", { coin: "BTC", token: payoutToken(bobs + PAYOUT_FORM_STUB) }, {
      cookie: bobCookie,
    });
    assert.equal(res.status, 409);
    assert.match(await res.text(), /no BTC payout address is set/);
    assert.equal((await listPayouts(sql, bob)).length, 0);
  });
});

const PAYOUT_FORM_STUB = `<input type="hidden" name="token" value="${"b".repeat(32)}"`;

Deno.test("operator pages - the payout history shows each state: requested, sent, failed and returned, paid", async () => {
  await withDashboard(async (env) => {
    const pubkey = randomPubkey();
    const cookie = await sessionCookie(env, pubkey);
    const sql = env.tcp.cp.db.sql;
    const deps = payoutDepsOf(env.tcp.cp);
    await setPayoutAddress(sql, { nodePubkey: pubkey, coin: "USDC_SOL", address: SOL });
    await fundOperatorEarnings(sql, pubkey, 15_000_000_000n);
    const row = async (id: bigint) => {
      const html = await page(env, "/operator", cookie);
      return new RegExp(`<tr\\s+data-payout="${id}">(.*?)</tr>`).exec(html)?.[1] ?? "";
    };
    const sweep = async () => {
      await sql`update payouts set next_check_at = now() - interval '1 second' where status = 'sent'`;
      await resumeOpenPayouts(deps, { olderThanMs: 0 });
    };

    // The processor is down: recorded, not yet sent.
    env.fake.setPayoutStatus("processing");
    env.fake.failNextPayouts(1, 503);
    const first = await requestPayout(deps, { nodePubkey: pubkey, automatic: false });
    let html = await row(first.id);
    assert.match(
      html,
      /<td data-status="requested">requested<div class="muted">Not yet taken by the payment processor/,
    );
    assert.match(html, /<td>–<\/td>$/, "no tx hash yet");

    // The sweep sends it; the processor is still sending.
    await sweep();
    html = await row(first.id);
    assert.match(html, /<td data-status="sent">sent<div class="muted">The payment processor is sending it/);

    // It fails at the processor: the reason, and the money back in the balance.
    env.fake.finishPayout(env.fake.payouts[0].id, {
      status: "failed",
      error: "Insufficient hot wallet balance",
    });
    await sweep();
    html = await row(first.id);
    assert.match(
      html,
      /<td data-status="failed">failed<div class="error-text">the payment processor reported the payout as failed: Insufficient hot wallet balance<\/div><div class="muted">Returned to your balance\.<\/div><\/td>/,
    );
    const full = await page(env, "/operator", cookie);
    assert.match(full, /data-stat="pending">15 USD</, "back in the pending earnings");

    // Asked again, it is paid: the tx hash is shown.
    const second = await requestPayout(deps, { nodePubkey: pubkey, automatic: false });
    assert.equal(second.status, "sent");
    const paid = env.fake.finishPayout(env.fake.payouts[1].id, { status: "completed" });
    await sweep();
    html = await row(second.id);
    assert.match(html, /<td data-status="completed">completed<\/td>/);
    assert.ok(html.includes(`<code class="tx">${paid.txHash}</code>`), html);
    assert.match(await page(env, "/operator", cookie), /data-stat="paid">15 USD</);
  });
});
