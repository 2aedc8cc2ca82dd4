// Errors on page paths read as pages (the layout, a title, the reason, a link home); under `/v1`
// and `/api` they stay OpenAI's error JSON.
import assert from "node:assert/strict";
import { createApp } from "../app.ts";
import { openTestControlPlane } from "../../testing/control_plane.ts";

function assertErrorPage(html: string, title: string) {
  assert.match(html, /^<!doctype html><html lang="en">/);
  assert.match(html, new RegExp(`<title>${title} · Infernet</title>`));
  assert.match(html, new RegExp(`<h1>${title}</h1>`));
  assert.match(html, /<link rel="stylesheet" href="\/assets\/style.css">/);
  assert.match(html, /<a href="\/">Go to the home page<\/a>/);
  assert.doesNotMatch(html, /<script/);
}

Deno.test("error pages - an unknown page path is a 404 page; unknown API paths stay JSON", async () => {
  const t = await openTestControlPlane();
  try {
    const app = createApp(t.cp);
    const page = await app.request("http://cp.test/no/such/page?x=<b>");
    assert.equal(page.status, 404);
    assert.equal(page.headers.get("content-type"), "text/html; charset=UTF-8");
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const html = await page.text();
    assertErrorPage(html, "Page not found");
    assert.match(html, /<p class="reason">There is no page at \/no\/such\/page\.<\/p>/);

    const asset = await app.request("http://cp.test/account/nope/deeper");
    assert.equal(asset.status, 404);
    assertErrorPage(await asset.text(), "Page not found");

    for (const path of ["/v1/nope", "/api/nope", "/api", "/v1"]) {
      const res = await app.request(`http://cp.test${path}`, {
        headers: { authorization: `Bearer ${t.apiKey}` },
      });
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(await res.json(), {
        error: {
          message: `Unknown path GET ${path}.`,
          type: "invalid_request_error",
          param: null,
          code: "not_found",
        },
      });
    }
  } finally {
    await t.close();
  }
});

Deno.test("error pages - a page handler that crashes is a 500 page; an API crash stays JSON", async () => {
  const t = await openTestControlPlane();
  try {
    const app = createApp(t.cp);
    // Signing in to the account page and every /v1 call authenticate the key first: make that fail.
    t.cp.auth.authenticate = () => Promise.reject(new Error("database on fire"));
    const page = await app.request("http://cp.test/account/login", {
      method: "POST",
      headers: { origin: "http://cp.test", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ key: t.apiKey }),
    });
    assert.equal(page.status, 500);
    assert.equal(page.headers.get("content-type"), "text/html; charset=UTF-8");
    const html = await page.text();
    assertErrorPage(html, "Something went wrong");
    assert.match(html, /<p class="reason">The server failed to answer this request; please try again\.<\/p>/);
    assert.doesNotMatch(html, /database on fire/, "the cause is logged, never shown");

    const api = await app.request("http://cp.test/v1/models", {
      headers: { authorization: `Bearer ${t.apiKey}` },
    });
    assert.equal(api.status, 500);
    assert.deepEqual(await api.json(), {
      error: { message: "Internal server error.", type: "server_error", param: null, code: "internal_error" },
    });
  } finally {
    await t.close();
  }
});
