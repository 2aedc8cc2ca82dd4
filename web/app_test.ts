// The HTTP surface in-process (no port): keys, auth, rate limits and OpenAI-shaped errors.
import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import type { WebConfig } from "./config.ts";

async function withApp(
  config: Partial<WebConfig>,
  fn: (app: ReturnType<typeof createApp>, apiKey: string) => Promise<void>,
) {
  const t = await openTestControlPlane({ config });
  try {
    await fn(createApp(t.cp), t.apiKey);
  } finally {
    await t.close();
  }
}

const chat = (key: string | null, body: unknown) =>
  new Request("http://cp.test/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

function assertOpenAiError(body: Record<string, unknown>, code: string) {
  const e = body.error as Record<string, unknown>;
  assert.equal(typeof e.message, "string");
  assert.equal(typeof e.type, "string");
  assert.ok("param" in e);
  assert.equal(e.code, code);
}

Deno.test("api - a new key is shown once and works on /v1", async () => {
  await withApp({}, async (app) => {
    const res = await app.request("http://cp.test/api/keys", { method: "POST", body: '{"label":"mine"}' });
    assert.equal(res.status, 201);
    const { key, label } = await res.json();
    assert.equal(label, "mine");
    const models = await app.request(
      new Request("http://cp.test/v1/models", { headers: { authorization: `Bearer ${key}` } }),
    );
    assert.equal(models.status, 200);
    assert.deepEqual(await models.json(), { object: "list", data: [] });
  });
});

Deno.test("api - a key request must be an object whose label is a string, as /openapi.json says", async () => {
  await withApp({}, async (app) => {
    for (const body of ['{"label":5}', "[1]"]) {
      const res = await app.request("http://cp.test/api/keys", { method: "POST", body });
      assert.equal(res.status, 400);
      const e = (await res.json()).error;
      assert.equal(e.code, "invalid_request");
      assert.equal(e.param, body === "[1]" ? null : "label");
    }
    const ok = await app.request("http://cp.test/api/keys", { method: "POST", body: "{}" });
    assert.equal(ok.status, 201);
    assert.equal((await ok.json()).label, null);
  });
});

Deno.test("api - errors are OpenAI-shaped with the statuses the SDKs map", async () => {
  await withApp({}, async (app, key) => {
    let res = await app.request(chat(null, {}));
    assert.equal(res.status, 401);
    assertOpenAiError(await res.json(), "invalid_api_key");
    res = await app.request(chat("inf_nope", {}));
    assert.equal(res.status, 401);
    assertOpenAiError(await res.json(), "invalid_api_key");
    res = await app.request(chat(key, "{not json"));
    assert.equal(res.status, 400);
    assertOpenAiError(await res.json(), "invalid_json");
    res = await app.request(chat(key, { model: "ghost", messages: [{ role: "user", content: "x" }] }));
    assert.equal(res.status, 404);
    assertOpenAiError(await res.json(), "model_not_found");
    for (const path of ["/v1/nowhere", "/api/nowhere"]) {
      res = await app.request(`http://cp.test${path}`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(res.status, 404);
      assertOpenAiError(await res.json(), "not_found");
    }
  });
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Sends a request with an optional key, X-Request-Id and JSON body; the body is not read. */
async function send(
  app: ReturnType<typeof createApp>,
  path: string,
  init: { key?: string; id?: string; body?: unknown } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  if (init.id !== undefined) headers["x-request-id"] = init.id;
  const res = await app.request(`http://cp.test${path}`, {
    method: init.body === undefined ? "GET" : "POST",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  await res.body?.cancel();
  return res;
}

Deno.test("api - every response names its request in x-request-id, the consumer's own when well formed", async () => {
  await withApp({ keyRateLimitPerSec: 1000 }, async (app, key) => {
    const ghost = { model: "ghost", messages: [{ role: "user", content: "x" }] };
    // Refused before any job: no key, an unknown path, an unknown model.
    for (
      const [path, init, status] of [
        ["/v1/chat/completions", { body: ghost }, 401],
        ["/v1/nowhere", { key }, 404],
        ["/v1/chat/completions", { key, body: ghost }, 404],
      ] as const
    ) {
      const fresh = await send(app, path, init);
      assert.equal(fresh.status, status);
      assert.match(fresh.headers.get("x-request-id") ?? "", UUID, `${path} ${status}`);
      const again = await send(app, path, init);
      assert.notEqual(again.headers.get("x-request-id"), fresh.headers.get("x-request-id"));
      const own = await send(app, path, { ...init, id: "mine-1_a=" });
      assert.equal(own.headers.get("x-request-id"), "mine-1_a=");
      const malformed = await send(app, path, { ...init, id: "not mine!" });
      assert.match(malformed.headers.get("x-request-id") ?? "", UUID);
    }
    // Outside /v1, as before.
    assert.match((await send(app, "/health")).headers.get("x-request-id") ?? "", UUID);
    assert.equal((await send(app, "/health", { id: "h-1" })).headers.get("x-request-id"), "h-1");
  });
  // A 429 keeps its retry-after beside its id.
  await withApp({ keyRateLimitPerSec: 1 }, async (app, key) => {
    let limited: Response | null = null;
    for (let i = 0; i < 3 && !limited; i++) {
      const res = await send(app, "/v1/models", { key });
      if (res.status === 429) limited = res;
    }
    assert.ok(limited, "the third call in a second is limited");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.match(limited.headers.get("x-request-id") ?? "", UUID);
  });
});

Deno.test("api - a key body that is not JSON is a 400, one past 16 KB a 413, an empty one is fine", async () => {
  await withApp({}, async (app) => {
    const post = (body?: string) => app.request("http://cp.test/api/keys", { method: "POST", body });
    const bad = await post("{label");
    assert.equal(bad.status, 400);
    assertOpenAiError(await bad.json(), "invalid_json");
    const huge = await post(JSON.stringify({ label: "x".repeat(20_000) }));
    assert.equal(huge.status, 413);
    assertOpenAiError(await huge.json(), "invalid_request");
    const empty = await post();
    assert.equal(empty.status, 201);
    assert.equal((await empty.json()).label, null);
  });
});

Deno.test("api - key creation and /v1 calls are rate limited with 429 and retry-after", async () => {
  await withApp({ keyCreationPerMinute: 2, keyRateLimitPerSec: 1 }, async (app, key) => {
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await app.request("http://cp.test/api/keys", { method: "POST" });
      codes.push(res.status);
      if (res.status === 429) {
        assertOpenAiError(await res.json(), "rate_limited");
        assert.ok(Number(res.headers.get("retry-after")) >= 1);
      } else await res.body?.cancel();
    }
    assert.deepEqual(codes, [201, 201, 429]);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await app.request(
        new Request("http://cp.test/v1/models", { headers: { authorization: `Bearer ${key}` } }),
      );
      statuses.push(res.status);
      await res.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 200, 429]);
  });
});

Deno.test("api - an oversized /v1 body is refused with 413 before it is read whole", async () => {
  await withApp({}, async (app, key) => {
    const big = "x".repeat(17 * 1024 * 1024);
    const res = await app.request(
      chat(key, JSON.stringify({ model: "m", messages: [{ role: "user", content: big }] })),
    );
    assert.equal(res.status, 413);
    assertOpenAiError(await res.json(), "invalid_request");
    // A declared length over the limit: refused before a byte is read (after the key is checked).
    const declared = (k: string) => {
      const req = chat(k, "{}");
      req.headers.set("content-length", String(17 * 1024 * 1024));
      return app.request(req);
    };
    const refused = await declared(key);
    assert.equal(refused.status, 413);
    const body = await refused.json();
    assertOpenAiError(body, "invalid_request");
    assert.equal(body.error.message, "The request body is larger than 16 MB.");
    assert.equal((await declared("inf_not_a_key")).status, 401);
  });
});

testOnEachDatabase("api - a NUL character in a URL or a stored field is a 400, never a 500", async (db) => {
  const t = await openTestControlPlane({ db });
  try {
    const app = createApp(t.cp);
    const auth = { authorization: `Bearer ${t.apiKey}` };
    for (const path of ["/api/deposits/%00", "/account?model=%00", "/account/usage.csv?model=a%00b"]) {
      const res = await app.request(`http://cp.test${path}`, { headers: auth });
      assert.equal(res.status, 400, path);
      await res.body?.cancel();
    }
    // In a body the database refuses it; that refusal is the client's error too.
    const key = await app.request("http://cp.test/api/keys", {
      method: "POST",
      body: '{"label":"a\\u0000b"}',
    });
    assert.equal(key.status, 400);
    assertOpenAiError(await key.json(), "invalid_request");
  } finally {
    await t.close();
  }
});

Deno.test("api - /v1 answers browsers of any origin: a preflight without a key, CORS headers on every answer", async () => {
  await withApp({}, async (app, apiKey) => {
    const origin = { origin: "http://localhost:3000" };
    const preflight = await app.request("http://cp.test/v1/chat/completions", {
      method: "OPTIONS",
      headers: {
        ...origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-stainless-os",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.equal(
      preflight.headers.get("access-control-allow-headers"),
      "authorization, content-type, x-stainless-os",
    );
    // A header list that is not one gets the two the API needs.
    const odd = await app.request("http://cp.test/v1/models", {
      method: "OPTIONS",
      headers: { ...origin, "access-control-request-headers": "x-a; y=(1)" },
    });
    assert.equal(odd.headers.get("access-control-allow-headers"), "authorization, content-type");
    for (
      const [res, status] of [
        [
          await app.request("http://cp.test/v1/models", {
            headers: { ...origin, authorization: `Bearer ${apiKey}` },
          }),
          200,
        ],
        [await app.request(chat("inf_wrong", { model: "m", messages: [] })), 401],
        [await app.request(chat(apiKey, { model: "m", messages: [{ role: "user", content: "hi" }] })), 404],
      ] as const
    ) {
      assert.equal(res.status, status);
      assert.equal(res.headers.get("access-control-allow-origin"), "*", String(status));
      assert.match(res.headers.get("access-control-expose-headers") ?? "", /x-request-id/);
      await res.body?.cancel();
    }
    // The dashboard and the node API are not opened to other origins.
    const keys = await app.request("http://cp.test/api/keys", {
      method: "POST",
      body: "{}",
      headers: origin,
    });
    assert.equal(keys.headers.get("access-control-allow-origin"), null);
  });
});
