// `/login` and the device-code pages: how an operator signs in (with `infernet login` on the
// node, or with a NIP-07 Nostr extension), the code form, the wait for the terminal's approval,
// and the clear end pages (denied, expired). Everything reads without JavaScript.
import NostrLogin from "../islands/NostrLogin.tsx";
import { Island } from "./Island.tsx";
import { Layout, Notice } from "./Layout.tsx";

function shortKey(pubkey: string): string {
  return `${pubkey.slice(0, 10)}…${pubkey.slice(-6)}`;
}

/** `/login`: both ways to sign in, or who is signed in already. */
export function LoginPage(
  props: { next: string; signedInAs: string | null; sessionMinutes: number; error?: string },
) {
  const deviceHref = props.next === "/operator"
    ? "/login/device"
    : `/login/device?${new URLSearchParams({ next: props.next })}`;
  return (
    <Layout title="Operator login">
      {props.error && <Notice kind="error">{props.error}</Notice>}
      {props.signedInAs && (
        <Notice kind="ok">
          Signed in as operator <code>{shortKey(props.signedInAs)}</code>. <a href={props.next}>Continue</a>
        </Notice>
      )}
      <h2>With your node's key</h2>
      <ol>
        <li>
          On the node, run <code>infernet login</code>. It prints a code like <code>BCDF-GHJK</code>.
        </li>
        <li>
          Open <a href={deviceHref}>the code page</a> in this browser and enter the code.
        </li>
        <li>
          The terminal shows this browser's address; answer <code>y</code> to let it in.
        </li>
      </ol>
      <h2>With a Nostr extension</h2>
      <Island name="NostrLogin" props={{ next: props.next }}>
        <NostrLogin next={props.next} />
      </Island>
      <p class="muted">
        Either way, the key must belong to a node registered here, or be an operator key a node has claimed
        (<code>infernet operator claim</code>; <code>infernet login --key &lt;file&gt;</code>{" "}
        signs in with it). A session lasts {props.sessionMinutes} minutes; sign out from the menu.
      </p>
    </Layout>
  );
}

/** `/login/device`: type the code the terminal shows. */
export function DeviceCodePage(props: { code: string; next: string; error?: string }) {
  return (
    <Layout title="Enter your login code">
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <p>
        Enter the code <code>infernet login</code> printed on your node.
      </p>
      <form method="post" action="/login/device" class="stack">
        <label>
          Code{" "}
          <input
            name="code"
            class="user-code"
            value={props.code}
            required
            autoComplete="off"
            autoCapitalize="characters"
            spellcheck={false}
            placeholder="XXXX-XXXX"
            maxLength={20}
          />
        </label>
        <input type="hidden" name="next" value={props.next} />
        <button type="submit">Continue</button>
      </form>
    </Layout>
  );
}

/** The page that waits (reloading itself every few seconds) for the terminal's answer. */
export function DeviceWaitPage(props: { userCode: string; address: string }) {
  return (
    <Layout title="Approve in your terminal" refreshS={2}>
      <p>
        Code <code class="user-code">{props.userCode}</code>{" "}
        is tied to this browser (<code>{props.address}</code>).
      </p>
      <p>
        Your terminal now asks <code>Approve this browser? [y/N]</code>. Answer{" "}
        <code>y</code>; this page signs you in when it checks again (every 2 seconds).
      </p>
      <p class="muted">
        Nothing happening? <a href="">Check now</a>, or <a href="/login">start over</a>.
      </p>
    </Layout>
  );
}

/** Why a device login cannot go on. */
export type DeviceEnd = "denied" | "expired" | "none" | "used";

const ENDS: Record<DeviceEnd, { title: string; text: string }> = {
  denied: { title: "Login denied", text: "The node's operator denied this browser in the terminal." },
  expired: {
    title: "Login expired",
    text: "This login code expired (codes last 10 minutes). Run infernet login again for a new one.",
  },
  none: {
    title: "No login in progress",
    text: "This browser has no login waiting. Run infernet login on the node and enter its code here.",
  },
  used: { title: "Login already used", text: "This login was already used. Run infernet login again." },
};

/** The end of a device login that did not sign in. */
export function DeviceEndPage(props: { end: DeviceEnd }) {
  const end = ENDS[props.end];
  return (
    <Layout title={end.title}>
      <Notice kind="error">{end.text}</Notice>
      <p>
        <a href="/login/device">Enter another code</a> · <a href="/login">Back to login</a>
      </p>
    </Layout>
  );
}

/** 429 for the login pages. */
export function LoginLimitedPage(props: { waitS: number }) {
  return (
    <Layout title="Too many attempts">
      <Notice kind="error">
        Too many login attempts from this address. Wait {props.waitS} seconds, then try again.
      </Notice>
      <p>
        <a href="/login">Back to login</a>
      </p>
    </Layout>
  );
}
