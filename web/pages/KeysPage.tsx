// `GET /keys` and `POST /keys`: an API key with no account, shown once with a copy button.
import CopyButton from "../islands/CopyButton.tsx";
import { Island } from "./Island.tsx";
import { Layout, Notice } from "./Layout.tsx";

/** The form, or the key just created (`apiKey`), or why none was (`error`). */
export function KeysPage(props: { apiKey?: string; error?: string }) {
  return (
    <Layout title="API keys">
      {props.error && <Notice kind="error">{props.error}</Notice>}
      {props.apiKey
        ? (
          <>
            <Notice kind="ok">Your new API key. Store it now: it is shown only this once.</Notice>
            <div class="keybox">
              <input id="new-key" readOnly value={props.apiKey} aria-label="Your API key" />
              <Island name="CopyButton" props={{ text: props.apiKey }}>
                <CopyButton text={props.apiKey} />
              </Island>
            </div>
            <form method="post" action="/account/login">
              <input type="hidden" name="key" value={props.apiKey} />
              <button type="submit">Sign in to the account page with this key</button>
            </form>
          </>
        )
        : (
          <form method="post" action="/keys" class="stack">
            <p>
              A key works at once with the OpenAI API at <code>/v1</code>; add credit on the{" "}
              <a href="/account">account page</a>.
            </p>
            <label>
              Label (optional) <input name="label" maxLength={100} placeholder="my app" />
            </label>
            <button type="submit">Create an API key</button>
          </form>
        )}
    </Layout>
  );
}
