// The dashboard without JavaScript: every form is a plain POST that works on its own, cross-site
// posts are refused, pages carry a strict CSP and no inline script, and the CSV escapes its fields.
import assert from "node:assert/strict";
import { usageCsv } from "./account_routes.tsx";
import { startDashboard } from "../../testing/dashboard.ts";

function form(
  url: string,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return fetch(url + path, {
    method: "POST",
    redirect: "manual",
    headers: { origin: url, "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields),
  });
}

Deno.test("pages - the account forms work as plain POSTs, without JavaScript", async () => {
  const env = await startDashboard();
  try {
    const { url } = env;
    const signIn = await (await fetch(`${url}/account`)).text();
    assert.match(signIn, /<form method="post" action="\/account\/login"/);

    const created = await form(url, "/keys", { label: "no js" });
    assert.equal(created.status, 200);
    const createdHtml = await created.text();
    const key = /id="new-key"[^>]*value="(inf_[^"]+)"/.exec(createdHtml)?.[1];
    assert.ok(key, "the new key is in the page");
    // Without JavaScript the Copy button could do nothing: it is rendered hidden (the island shows it).
    assert.match(createdHtml, /<button type="button" class="copy"\s+hidden>/);

    const bad = await form(url, "/account/login", { key: "inf_nope" });
    assert.equal(bad.status, 401);
    assert.match(await bad.text(), /not valid/);

    const login = await form(url, "/account/login", { key });
    assert.equal(login.status, 303);
    const setCookie = login.headers.get("set-cookie") ?? "";
    assert.match(setCookie, /^infernet_account=[\w-]{43};/);
    assert.doesNotMatch(setCookie, /inf_/, "the cookie holds a session token, never the key");
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const cookie = setCookie.split(";")[0];

    const account = await fetch(`${url}/account`, { headers: { cookie } });
    const html = await account.text();
    assert.match(html, /<form method="post" action="\/account\/deposits"/);
    assert.match(html, /<form method="post" action="\/account\/logout"/);
    assert.match(html, /<select name="coin">/);
    const csp = account.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /img-src 'self' data:/);
    for (const tag of html.match(/<script[^>]*>/g) ?? []) {
      assert.ok(/ src="\/assets\/islands\/\w+\.js"/.test(tag) || /type="application\/json"/.test(tag), tag);
    }

    const refused = await form(url, "/account/deposits", { amount_usd: "0.001", coin: "BTC" }, {
      cookie,
    });
    assert.equal(refused.status, 400);
    const refusedHtml = await refused.text();
    assert.match(refusedHtml, /The amount must be an amount in USD/);
    // The form comes back as sent: the amount typed and the coin picked.
    assert.match(refusedHtml, /<input name="amount_usd"[^>]* value="0\.001"/);
    assert.match(refusedHtml, /<option\s+value="BTC" selected>BTC<\/option>/);

    const deposit = await form(url, "/account/deposits", { amount_usd: "5", coin: "BTC" }, { cookie });
    assert.equal(deposit.status, 303);
    const where = deposit.headers.get("location")!;
    assert.match(where, /^\/account\/deposits\//);
    const page = await (await fetch(url + where, { headers: { cookie } })).text();
    assert.match(page, /<img class="qr" src="data:image\//);
    assert.match(page, /data-status="pending"/);
    assert.equal(env.fake.payments.length, 1);

    const crossSite = await form(url, "/account/deposits", { amount_usd: "5", coin: "BTC" }, {
      cookie,
      origin: "https://evil.example",
    });
    assert.equal(crossSite.status, 403);
    await crossSite.body?.cancel();
    assert.equal(env.fake.payments.length, 1, "a cross-site post reaches nothing");

    const csv = await fetch(`${url}/account/usage.csv`, { headers: { cookie } });
    assert.equal(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    assert.equal((await csv.text()).trim().split("\r\n").length, 1, "header only: no jobs yet");

    const out = await form(url, "/account/logout", {}, { cookie });
    assert.equal(out.status, 303);
    assert.match(out.headers.get("set-cookie") ?? "", /^infernet_account=;.*Max-Age=0/);
    const after = await fetch(`${url}/account`, { headers: { cookie } });
    assert.match(
      await after.text(),
      /action="\/account\/login"/,
      "the signed-out session no longer opens the page",
    );
  } finally {
    await env.close();
  }
});

Deno.test("pages - /v1 and /api keep their own responses (no page headers, JSON errors)", async () => {
  const env = await startDashboard();
  try {
    const res = await fetch(`${env.url}/api/pricing`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-security-policy"), null);
    await res.body?.cancel();
    const missing = await fetch(`${env.url}/api/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "not_found");
    const page = await fetch(`${env.url}/nope`);
    assert.equal(page.status, 404);
    assert.match(await page.text(), /<h1>Page not found<\/h1>/);
  } finally {
    await env.close();
  }
});

Deno.test("pages - the usage CSV quotes fields and neutralises formulas", () => {
  const csv = usageCsv([{
    jobId: "j1",
    createdAt: new Date("2026-01-02T03:04:05Z"),
    kind: "chat",
    model: '=HYPERLINK("x")',
    status: "completed",
    promptTokens: 1,
    completionTokens: 2,
    cost: 1_500n,
    latencyMs: 9,
    nodePubkey: null,
  }]);
  const [head, row] = csv.trim().split("\r\n");
  assert.equal(
    head,
    "time,job_id,model,kind,status,prompt_tokens,completion_tokens,cost_usd,latency_ms,node",
  );
  assert.equal(
    row,
    '"2026-01-02T03:04:05.000Z","j1","\'=HYPERLINK(""x"")","chat","completed","1","2","0.0000015","9",""',
  );
});
