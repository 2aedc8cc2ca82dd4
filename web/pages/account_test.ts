// The account page's usage log a page at a time (keyset, filters kept, the CSV whole and its cap
// said), and the deposit form's one-time token: a double submit makes one deposit.
import assert from "node:assert/strict";
import { findApiKeyByHash, hashApiKey, insertJobs, type JobRow } from "../../db/mod.ts";
import { CSV_LIMIT, USAGE_PAGE_SIZE } from "./account_routes.tsx";
import { accountCookie, startDashboard } from "../../testing/dashboard.ts";

function job(i: number, apiKeyId: bigint, t0: number): JobRow {
  const at = new Date(t0 - Math.floor(i / 2) * 1000); // two jobs per second: pages end inside ties
  return {
    id: `job_${String(i).padStart(5, "0")}`,
    apiKeyId,
    kind: "chat",
    model: i % 3 === 0 ? "alpha" : "beta",
    nodePubkey: null,
    stream: false,
    status: "completed",
    attempts: 1,
    errorCode: null,
    enginePromptTokens: 1,
    engineCompletionTokens: 1,
    countedPromptTokens: 1,
    countedCompletionTokens: 1,
    promptTokens: 1,
    completionTokens: 1,
    ttftMs: 1,
    latencyMs: 1,
    createdAt: at,
    finishedAt: at,
  };
}

function usageIds(html: string): string[] {
  return [...html.matchAll(/<tr\s+data-job="([^"]+)">/g)].map((m) => m[1]);
}

function olderHref(html: string): string | null {
  const m = /<a href="([^"]+)" rel="next">Older<\/a>/.exec(html);
  return m ? m[1].replaceAll("&amp;", "&") : null;
}

Deno.test("account - the usage log pages by keyset with an Older link that keeps the filters", async () => {
  const env = await startDashboard();
  try {
    const sql = env.tcp.cp.db.sql;
    const key = env.tcp.apiKey;
    const id = (await findApiKeyByHash(sql, hashApiKey(key)))!.id;
    const total = 3 * USAGE_PAGE_SIZE + 30;
    const t0 = Date.parse("2026-06-01T12:00:00Z");
    await insertJobs(sql, Array.from({ length: total }, (_, i) => job(i, id, t0)));
    const cookie = await accountCookie(sql, key);
    const get = async (path: string) => await (await fetch(env.url + path, { headers: { cookie } })).text();

    // All jobs, page by page: each once, newest first.
    const seen: string[] = [];
    let path: string | null = "/account";
    let pages = 0;
    while (path && pages < 10) {
      const html = await get(path);
      const rows = usageIds(html);
      assert.ok(rows.length <= USAGE_PAGE_SIZE);
      seen.push(...rows);
      if (pages > 0) assert.match(html, /<a href="\/account">Newest<\/a>/);
      path = olderHref(html);
      pages++;
    }
    assert.equal(pages, 4);
    assert.equal(seen.length, total);
    // Newest first; within one second, the larger id first.
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => `job_${String(i ^ 1).padStart(5, "0")}`));
    assert.doesNotMatch(await get("/account"), /data-csv-capped/, "under the CSV cap: no notice");

    // Filtered: the Older link carries the model (and the CSV link never carries the page).
    const alpha = Math.ceil(total / 3);
    const first = await get("/account?model=alpha&status=completed");
    const next = olderHref(first);
    assert.ok(next);
    const params = new URL(next, env.url).searchParams;
    assert.equal(params.get("model"), "alpha");
    assert.equal(params.get("status"), "completed");
    assert.match(params.get("before") ?? "", /^2026-06-01T\d\d:\d\d:\d\d\.000Z~job_\d{5}$/);
    const second = await get(next);
    assert.equal(olderHref(second), null, "the last page has no Older link");
    assert.match(second, /href="\/account\/usage\.csv\?model=alpha&amp;status=completed"/);
    const rows = [...usageIds(first), ...usageIds(second)];
    assert.equal(rows.length, alpha);
    assert.ok(rows.every((r) => Number(r.slice(4)) % 3 === 0), "alpha jobs only");

    // The CSV is whole, whatever page the page is on.
    const csv = await (await fetch(`${env.url}/account/usage.csv?${params}`, { headers: { cookie } })).text();
    assert.equal(csv.trim().split("\r\n").length, 1 + alpha);

    // A garbled cursor is ignored (the first page), never an error.
    assert.equal(usageIds(await get("/account?before=yesterday~x")).length, USAGE_PAGE_SIZE);
  } finally {
    await env.close();
  }
});

Deno.test("account - past the CSV cap, the page says the export holds only the newest", async () => {
  const env = await startDashboard();
  try {
    const sql = env.tcp.cp.db.sql;
    const id = (await findApiKeyByHash(sql, hashApiKey(env.tcp.apiKey)))!.id;
    const t0 = Date.now();
    await insertJobs(sql, Array.from({ length: CSV_LIMIT + 1 }, (_, i) => job(i, id, t0)));
    const cookie = await accountCookie(env.tcp.cp.db.sql, env.tcp.apiKey);
    const html = await (await fetch(`${env.url}/account`, { headers: { cookie } })).text();
    assert.match(html, /data-csv-capped[^>]*>The CSV export holds the newest 10,000/);
    const csv = await (await fetch(`${env.url}/account/usage.csv`, { headers: { cookie } })).text();
    const lines = csv.trim().split("\r\n").slice(1);
    assert.equal(lines.length, CSV_LIMIT);
    // Streamed by keyset in chunks: the newest 10,000 jobs, each once, in order.
    const ids = lines.map((l) => l.split(",")[1].replaceAll('"', ""));
    assert.deepEqual(
      ids,
      Array.from({ length: CSV_LIMIT }, (_, i) => `job_${String(i ^ 1).padStart(5, "0")}`),
    );
    const filtered = await (await fetch(`${env.url}/account?model=alpha`, { headers: { cookie } })).text();
    assert.doesNotMatch(filtered, /data-csv-capped/, "a filter under the cap: no notice");
  } finally {
    await env.close();
  }
});

Deno.test("account - a double-submitted deposit form creates one deposit", async () => {
  const env = await startDashboard();
  try {
    const cookie = await accountCookie(env.tcp.cp.db.sql, env.tcp.apiKey);
    const page = await (await fetch(`${env.url}/account`, { headers: { cookie } })).text();
    const token = /<input type="hidden" name="token" value="([^"]+)"/.exec(page)?.[1];
    assert.ok(token, "the form carries a token");
    const again = await (await fetch(`${env.url}/account`, { headers: { cookie } })).text();
    assert.notEqual(/name="token" value="([^"]+)"/.exec(again)?.[1], token, "a fresh token per render");

    const submit = () =>
      fetch(`${env.url}/account/deposits`, {
        method: "POST",
        redirect: "manual",
        headers: { cookie, origin: env.url, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ amount_usd: "7.50", coin: "USDC_SOL", token }),
      });
    // Twice at once (a double click), then once more (a resubmit after a back button).
    const both = await Promise.all([submit(), submit()]);
    const third = await submit();
    const where = [...both, third].map((r) => r.headers.get("location"));
    assert.deepEqual([...both, third].map((r) => r.status), [303, 303, 303]);
    assert.equal(new Set(where).size, 1, `one deposit page: ${where}`);
    assert.equal(env.fake.payments.length, 1, "one payment at the processor");
    const [{ n }] = await env.tcp.cp.db.sql<{ n: bigint }[]>`select count(*)::int8 as n from payments`;
    assert.equal(n, 1n, "one payment stored");

    // Another render's token is another deposit.
    const other = await fetch(`${env.url}/account/deposits`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin: env.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ amount_usd: "7.50", coin: "USDC_SOL", token: crypto.randomUUID() }),
    });
    assert.equal(other.status, 303);
    assert.notEqual(other.headers.get("location"), where[0]);
    assert.equal(env.fake.payments.length, 2);
  } finally {
    await env.close();
  }
});

Deno.test("account - an underpaid deposit shows what was paid and credited, not what was asked", async () => {
  const env = await startDashboard();
  try {
    const cookie = await accountCookie(env.tcp.cp.db.sql, env.tcp.apiKey);
    const made = await fetch(`${env.url}/account/deposits`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin: env.url, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ amount_usd: "7.50", coin: "USDC_SOL", token: crypto.randomUUID() }),
    });
    assert.equal(made.status, 303);
    const [payment] = env.fake.payments;
    const cell = () =>
      fetch(`${env.url}/account`, { headers: { cookie } }).then((r) => r.text()).then((html) =>
        new RegExp(`<td data-credited="${payment.id}">([^<]*)</td>`).exec(html)?.[1]
      );
    assert.equal(await cell(), "—");
    assert.equal((await env.fake.confirm(payment.id, { amountUsd: 5 })).delivered, true);
    assert.equal(await cell(), "5 USD (paid less than asked)");
  } finally {
    await env.close();
  }
});
