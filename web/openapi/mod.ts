// `/openapi.json` and the reference page at `/docs`. The page is Scalar's standalone bundle, served
// from here (not a CDN: neither this machine nor a browser behind a strict CSP reaches one) under a
// versioned path with a year's cache, with a CSP that allows only this origin.
import type { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { openApiDocument } from "./document.ts";

export { openApiDocument } from "./document.ts";

const SCALAR_DIR = new URL("../../node_modules/@scalar/api-reference/", import.meta.url);

/** The API's version in the document: the package's, the one release version of the repository. */
const API_VERSION = "0.1.0";

const INIT_JS = `Scalar.createApiReference("#reference", {
  url: "/openapi.json",
  withDefaultFonts: false,
  telemetry: false,
  hideClientButton: false,
  persistAuth: false,
});
`;

function page(bundlePath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Infernet API reference</title>
<link rel="icon" href="data:,">
</head>
<body>
<nav><a href="/">← Infernet dashboard</a></nav>
<noscript>The API is described at <a href="/openapi.json">/openapi.json</a>.</noscript>
<div id="reference"></div>
<script src="${bundlePath}"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;
}

const YEAR = "public, max-age=31536000, immutable";

/** Mounts `/openapi.json`, `/docs` and the reference page's scripts. */
export function mountApiDocs(app: Hono<AppEnv>, cp: ControlPlane): void {
  const document = JSON.stringify(openApiDocument({ version: API_VERSION, serverUrl: cp.config.publicUrl }));
  const { version } = JSON.parse(Deno.readTextFileSync(new URL("package.json", SCALAR_DIR)));
  const bundlePath = `/docs/scalar-${version}.js`;
  // 4.9 MB, ~1.4 MB gzipped: read and compressed once, on first use.
  let bundle: Promise<Uint8Array<ArrayBuffer>> | null = null;
  let gzipped: Promise<Uint8Array<ArrayBuffer>> | null = null;
  const plain = () => bundle ??= Deno.readFile(new URL("dist/browser/standalone.js", SCALAR_DIR));
  const gzip = () =>
    gzipped ??= plain().then((b) =>
      new Response(new Blob([b]).stream().pipeThrough(new CompressionStream("gzip"))).bytes()
    );

  app.get("/openapi.json", (c) => {
    c.header("access-control-allow-origin", "*");
    return c.body(document, 200, { "content-type": "application/json" });
  });
  app.use(
    "/docs/*",
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // Scalar sets its theme through style elements and attributes.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", "data:"],
        fontSrc: ["'self'", "data:"],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    }),
  );
  app.get("/docs", (c) => c.html(page(bundlePath)));
  app.get("/docs/init.js", (c) => c.body(INIT_JS, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get(bundlePath, async (c) => {
    const headers: Record<string, string> = {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": YEAR,
      vary: "accept-encoding",
    };
    if (!/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) return c.body(await plain(), 200, headers);
    return c.body(await gzip(), 200, { ...headers, "content-encoding": "gzip" });
  });
}
