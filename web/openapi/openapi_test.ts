// /openapi.json is a valid OpenAPI 3.1 document naming every route the app mounts, its request
// bodies are the schemas the edge validates with, and /docs renders it in a real browser.
import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { createApp } from "../app.ts";
import { openTestControlPlane } from "../../testing/control_plane.ts";
import { launchChromium, screenshots } from "../../testing/browser.ts";
import { CHAT_REQUEST_SCHEMA, publishedSchema } from "../../shared/mod.ts";

// Mounted routes that are not part of the JSON APIs, each with why.
const NOT_DOCUMENTED: Record<string, string> = {
  "/openapi.json": "the document itself",
  "/docs": "the reference page rendering the document",
  "/docs/init.js": "the reference page's script",
  "/docs/scalar-*.js": "the reference page's bundled renderer",
  "/": "dashboard page (HTML)",
  "/network.json": "dashboard page's own data, for its island",
  "/keys": "dashboard page (HTML form)",
  "/account": "dashboard page",
  "/account/*": "dashboard pages",
  "/operator": "dashboard page",
  "/operator/*": "dashboard pages",
  "/login": "dashboard page",
  "/login/*": "dashboard pages",
  "/logout": "dashboard form",
  "/assets/*": "dashboard assets",
};

function isExcluded(path: string): boolean {
  return Object.keys(NOT_DOCUMENTED).some((p) =>
    p === path || (p.endsWith("/*") && path.startsWith(p.slice(0, -1))) ||
    (p.includes("*") && new RegExp(`^${p.replaceAll(".", "\\.").replace("*", "[^/]+")}$`).test(path))
  );
}

// Hono's `:param` is OpenAPI's `{param}`; the node status route is a wildcard (see web/app.ts).
function openApiPath(path: string): string {
  if (path === "/api/nodes/*") return "/api/nodes/{pubkey}";
  // A parameter with a pattern (`:model{.+}`, slashes allowed) is still one OpenAPI parameter.
  return path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}");
}

async function withApp(fn: (app: ReturnType<typeof createApp>) => Promise<void>) {
  const t = await openTestControlPlane();
  try {
    await fn(createApp(t.cp));
  } finally {
    await t.close();
  }
}

Deno.test("openapi - /openapi.json is a valid OpenAPI 3.1 document", async () => {
  await withApp(async (app) => {
    const res = await app.request("/openapi.json");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const doc = await res.json();
    assert.equal(doc.openapi, "3.1.0");
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.deepEqual(result.errors ?? [], [], "the document is valid OpenAPI 3.1");
    assert.equal(result.valid, true);
    assert.equal(validator.version, "3.1");
    // Every reference resolves inside the document.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    assert.ok(refs.length > 30);
    for (const r of new Set(refs)) {
      const target = r.slice(8, -1).replace(/^#\//, "").split("/").reduce((o, k) => o?.[k], doc);
      assert.ok(target, `${r} resolves`);
    }
    // The validator does refuse a broken document.
    const broken = structuredClone(doc);
    broken.paths["/v1/models"].get.responses = { "200": { content: 5 } };
    assert.equal((await new Validator().validate(broken)).valid, false);
  });
});

Deno.test("openapi - every route the app mounts is in the document, or excluded with a reason", async () => {
  await withApp(async (app) => {
    const doc = await (await app.request("/openapi.json")).json();
    const missing: string[] = [];
    let checked = 0;
    for (const r of app.routes) {
      if (r.method === "ALL") continue; // middleware (app.use)
      if (isExcluded(r.path)) continue;
      checked++;
      const op = doc.paths[openApiPath(r.path)]?.[r.method.toLowerCase()];
      if (!op) missing.push(`${r.method} ${r.path}`);
    }
    assert.deepEqual(missing, []);
    assert.ok(checked >= 20, `${checked} API routes checked`);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) {
        const mounted = app.routes.some((r) =>
          r.method === method.toUpperCase() && openApiPath(r.path) === path
        );
        assert.ok(mounted, `${method} ${path} is documented but not mounted`);
      }
    }
  });
});

Deno.test("openapi - request bodies are the schemas the edge validates with, and errors are OpenAI's", async () => {
  await withApp(async (app) => {
    const doc = await (await app.request("/openapi.json")).json();
    assert.deepEqual(doc.components.schemas.ChatCompletionRequest, publishedSchema(CHAT_REQUEST_SCHEMA));
    // The routing preferences, OpenRouter's and ours, with the values each takes.
    const provider = doc.components.schemas.ChatCompletionRequest.properties.provider.properties;
    assert.deepEqual(provider.sort.enum, ["price", "throughput", "latency", null]);
    assert.ok(provider.quantizations.items.enum.includes("int4"));
    assert.deepEqual([provider.min_reputation.minimum, provider.min_reputation.maximum], [0, 1]);
    assert.ok(provider.require_parameters.type.includes("boolean"));
    const chat = doc.paths["/v1/chat/completions"].post;
    assert.equal(
      chat.requestBody.content["application/json"].schema.$ref,
      "#/components/schemas/ChatCompletionRequest",
    );
    assert.deepEqual(chat.security, [{ apiKey: [] }]);
    assert.equal(chat.responses["400"].$ref, "#/components/responses/Error");
    assert.deepEqual(Object.keys(doc.components.schemas.Error.properties.error.properties), [
      "message",
      "type",
      "param",
      "code",
    ]);
    assert.deepEqual(doc.paths["/api/nodes/heartbeat"].post.security, [{ nip98: [] }]);
    assert.equal(doc.components.securitySchemes.nip98.name, "Authorization");
    assert.equal(doc.components.securitySchemes.coinPaySignature.name, "X-CoinPay-Signature");
    assert.deepEqual(doc.paths["/api/webhooks/coinpay"].post.security, [{ coinPaySignature: [] }]);
    // The passthrough: the published schema leaves chat bodies open, as the validator does.
    assert.equal(doc.components.schemas.ChatCompletionRequest.additionalProperties, undefined);
    assert.equal(JSON.stringify(doc).includes("errorMessage"), false);
  });
});

Deno.test("openapi - /docs is served with its own renderer under a strict CSP, cached for a year", async () => {
  await withApp(async (app) => {
    const page = await app.request("/docs");
    assert.equal(page.status, 200);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'/);
    const html = await page.text();
    const src = /<script src="(\/docs\/scalar-[\d.]+\.js)">/.exec(html)?.[1];
    assert.ok(src, "the page loads the bundle from this server");
    assert.equal(/https?:\/\//.test(html), false, "no other origin");
    // No /favicon.ico request (404), and a way back to the dashboard.
    assert.match(html, /<link rel="icon" href="data:,">/);
    assert.match(html, /<a href="\/">/);
    const bundle = await app.request(src);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get("cache-control") ?? "", /max-age=31536000/);
    const bytes = await bundle.bytes();
    assert.ok(bytes.byteLength > 1_000_000);
    const zipped = await app.request(src, { headers: { "accept-encoding": "gzip, br" } });
    assert.equal(zipped.headers.get("content-encoding"), "gzip");
    const body = await zipped.bytes();
    assert.ok(body.byteLength < bytes.byteLength / 2, `${body.byteLength} bytes gzipped`);
    const unzipped = await new Response(
      new Blob([body]).stream().pipeThrough(new DecompressionStream("gzip")),
    )
      .bytes();
    assert.deepEqual(unzipped, bytes);
  });
});

Deno.test("openapi - /docs renders the reference in Chromium, with no CSP violation", async () => {
  const t = await openTestControlPlane();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, createApp(t.cp).fetch);
  const browser = await launchChromium();
  const shot = await screenshots("openapi");
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`http://127.0.0.1:${server.addr.port}/docs`);
    await page.getByText("Infernet API").first().waitFor({ timeout: 30_000 });
    await page.getByText("/v1/chat/completions").first().waitFor({ timeout: 30_000 });
    await page.getByText("Create a chat completion").first().waitFor({ timeout: 30_000 });
    await shot(page, "docs");
    assert.deepEqual(problems.filter((p) => /Content Security Policy|Refused/i.test(p)), []);
  } finally {
    await browser.close();
    await server.shutdown();
    await t.close();
  }
});
