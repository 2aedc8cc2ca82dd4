// The dashboard's error page: an unknown page path (404) or a page handler that failed (500, or
// the HttpError's own status) reads as a page with the site's layout, not as API JSON.
import { renderToString } from "preact-render-to-string";
import { Layout } from "./Layout.tsx";

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Not signed in",
  403: "Forbidden",
  404: "Page not found",
  429: "Too many requests",
  500: "Something went wrong",
  502: "Something went wrong",
  503: "Temporarily unavailable",
};

// The page has no script: the strictest policy the stylesheet allows.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'";

/** The error page: a title for the status, the one-line reason, and the way home. */
export function ErrorPage(props: { status: number; reason: string }) {
  return (
    <Layout title={TITLES[props.status] ?? (props.status >= 500 ? TITLES[500] : "Error")}>
      <p class="reason">{props.reason}</p>
      <p>
        <a href="/">Go to the home page</a>
      </p>
    </Layout>
  );
}

/** The error page as a complete, uncached `text/html` response. */
export function errorPageResponse(status: number, reason: string, headers?: HeadersInit): Response {
  const res = new Response(
    `<!doctype html>${renderToString(<ErrorPage status={status} reason={reason} />)}`,
    {
      status,
      headers,
    },
  );
  res.headers.set("content-type", "text/html; charset=UTF-8");
  res.headers.set("cache-control", "no-store");
  res.headers.set("content-security-policy", CSP);
  res.headers.set("x-content-type-options", "nosniff");
  return res;
}
