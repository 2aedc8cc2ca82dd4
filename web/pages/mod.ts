// The dashboard: server-rendered Preact pages with small islands, on the control plane's own Hono
// app. Every page reads without JavaScript; every state-changing form is a same-origin POST
// (hono/csrf); pages carry a strict CSP (hono/secure-headers): scripts only from /assets.
import type { Hono } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import type { AppContext, AppEnv, AppMiddleware } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { islandBundle } from "./islands.ts";
import { networkSnapshot } from "./network_data.ts";
import { networkPage } from "./network_routes.tsx";
import { createKeyPage, keysPage } from "./keys_routes.tsx";
import { mountAccountRoutes } from "./account_routes.tsx";
import { mountOperatorRoutes } from "./operator_routes.tsx";
import { mountLoginRoutes } from "./login_routes.tsx";
import { loadOperator } from "../auth/session.ts";

export { errorPageResponse } from "./ErrorPage.tsx";

/** The page paths the dashboard's middleware (CSP, CSRF) covers; `/v1` and `/api` are untouched. */
const PAGE_PATHS = [
  "/",
  "/network.json",
  "/keys",
  "/account",
  "/account/*",
  "/operator",
  "/operator/*",
  "/assets/*",
]
  .concat(["/login", "/login/*", "/logout"]);

const STYLE = await Deno.readTextFile(new URL("../assets/style.css", import.meta.url));

function pageMiddleware(cp: ControlPlane): AppMiddleware[] {
  const publicOrigin = cp.config.publicUrl ? new URL(cp.config.publicUrl).origin : null;
  const sameOrigin = csrf({
    origin: (origin, c) => origin === new URL(c.req.url).origin || origin === publicOrigin,
  });
  return [
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    }),
    async (c, next) => {
      try {
        await sameOrigin(c, next);
      } catch (err) {
        // hono/csrf refuses with its own exception: answer a plain 403 rather than an API error.
        if (err instanceof HTTPException && err.status === 403) {
          return c.text("Forbidden: this form must be sent from this site's own pages.", 403);
        }
        throw err;
      }
    },
    loadOperator(cp),
  ];
}

/** Mounts the dashboard's pages, their JSON endpoints and assets on the app. */
export function mountPages(app: Hono<AppEnv>, cp: ControlPlane): void {
  for (const path of PAGE_PATHS) app.use(path, ...pageMiddleware(cp));

  app.get("/", networkPage(cp));
  app.get("/network.json", async (c) => c.json(await networkSnapshot(cp)));
  app.get("/keys", keysPage());
  app.post("/keys", createKeyPage(cp));
  mountAccountRoutes(app, cp);
  mountOperatorRoutes(app, cp);
  mountLoginRoutes(app, cp);

  app.get("/assets/style.css", (c) => {
    c.header("content-type", "text/css; charset=utf-8");
    c.header("cache-control", "public, max-age=300");
    return c.body(STYLE);
  });
  app.get("/assets/islands/:file", async (c: AppContext) => {
    const match = /^([A-Za-z]+)\.js$/.exec(c.req.param("file") ?? "");
    const code = match ? await islandBundle(match[1]) : null;
    if (code === null) return c.text("Not found", 404);
    c.header("content-type", "text/javascript; charset=utf-8");
    c.header("cache-control", "public, max-age=300");
    return c.body(code);
  });
}
