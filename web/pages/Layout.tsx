// The page shell every dashboard page shares: viewport for phones, one stylesheet, the nav.
import type { ComponentChildren } from "preact";
import { SessionNav } from "./SessionNav.tsx";

/** The HTML document around a page's content. */
export function Layout(
  props: {
    title: string;
    children: ComponentChildren;
    signedIn?: boolean;
    refreshS?: number;
    /** Reload every N s only without JavaScript (a page whose island updates it otherwise). */
    noscriptRefreshS?: number;
  },
) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Infernet`}</title>
        <link rel="stylesheet" href="/assets/style.css" />
        <link rel="icon" href="data:," />
        {props.refreshS ? <meta http-equiv="refresh" content={String(props.refreshS)} /> : null}
        {props.noscriptRefreshS
          ? (
            <noscript>
              <meta http-equiv="refresh" content={String(props.noscriptRefreshS)} />
            </noscript>
          )
          : null}
      </head>
      <body>
        <header>
          <a class="brand" href="/">Infernet</a>
          <nav>
            <a href="/">Network</a>
            <a href="/keys">API keys</a>
            <a href="/account">Account</a>
            <a href="/docs">API</a>
            <SessionNav />
          </nav>
        </header>
        <main>
          <h1>{props.title}</h1>
          {props.children}
        </main>
        <footer>
          OpenAI-compatible API at <code>/v1</code> · published pricing at{" "}
          <a href="/api/pricing">/api/pricing</a>
        </footer>
      </body>
    </html>
  );
}

/** An error or notice line. */
export function Notice(props: { kind: "error" | "ok"; children: ComponentChildren }) {
  return (
    <p class={`notice ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>{props.children}</p>
  );
}
