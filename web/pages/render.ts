// Renders a page component to a full HTML response (Preact escapes every value).
import type { VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import type { AppContext } from "../app_env.ts";

/** The page as `text/html`, never cached (it may show a balance or a key). */
export function renderPage(c: AppContext, page: VNode, status = 200): Response {
  c.header("cache-control", "no-store");
  return c.html(`<!doctype html>${renderToString(page)}`, status as 200);
}
