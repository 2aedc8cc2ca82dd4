// Renders a page component to a full HTML response (Preact escapes every value).
import { h, type VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import type { AppContext } from "../app_env.ts";
import { OperatorRoleContext, SessionContext } from "./SessionNav.tsx";

/** The page as `text/html`, never cached (it may show a balance or a key). */
export function renderPage(c: AppContext, page: VNode, status = 200): Response {
  c.header("cache-control", "no-store");
  const operator = c.get("operatorPubkey") ?? null;
  const role = h(OperatorRoleContext.Provider, { value: c.get("sessionRole") === "operator" }, page);
  const html = renderToString(h(SessionContext.Provider, { value: operator }, role));
  return c.html(`<!doctype html>${html}`, status as 200);
}
