// "Sign in with Nostr" (NIP-07): asks the browser's Nostr extension for its key and a signed
// kind-27235 event over a one-time challenge, and posts it (same origin, JSON). Without
// JavaScript or without an extension, it says to use `infernet login` instead.
import { useEffect, useState } from "preact/hooks";

interface Nip07 {
  getPublicKey(): Promise<string>;
  signEvent(event: { kind: number; created_at: number; tags: string[][]; content: string }): Promise<
    { pubkey: string }
  >;
}

type State = "checking" | "absent" | "ready" | "working" | "error";

function extension(): Nip07 | undefined {
  return (globalThis as { nostr?: Nip07 }).nostr;
}

async function errorText(res: Response): Promise<string> {
  const body = await res.json().catch(() => null);
  return body?.error?.message ?? `the server answered ${res.status}`;
}

/** The sign-in button, explained when no extension is present. */
export default function NostrLogin(props: { next: string }) {
  const [state, setState] = useState<State>("checking");
  const [message, setMessage] = useState("");

  useEffect(() => {
    // Extensions inject window.nostr at load, sometimes a moment late: look twice.
    if (extension()) return setState("ready");
    const t = setTimeout(() => setState(extension() ? "ready" : "absent"), 800);
    return () => clearTimeout(t);
  }, []);

  const signIn = async () => {
    const nostr = extension();
    if (!nostr) return setState("absent");
    setState("working");
    try {
      const ch = await fetch("/login/nostr/challenge", { headers: { accept: "application/json" } });
      if (!ch.ok) throw new Error(await errorText(ch));
      const { challenge, url, kind } = await ch.json();
      const pubkey = await nostr.getPublicKey();
      const event = await nostr.signEvent({
        kind,
        created_at: Math.floor(Date.now() / 1000),
        tags: [["u", url], ["method", "POST"], ["challenge", challenge]],
        content: "",
      });
      if (event.pubkey !== pubkey) throw new Error("the extension signed with another key");
      const res = await fetch("/login/nostr", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ event, next: props.next }),
      });
      if (!res.ok) throw new Error(await errorText(res));
      const { redirect } = await res.json();
      location.assign(redirect);
    } catch (err) {
      setMessage((err as Error).message || String(err));
      setState("error");
    }
  };

  return (
    <div class="nostr-login">
      <button type="button" onClick={signIn} disabled={state !== "ready" && state !== "error"}>
        {state === "working" ? "Waiting for your extension…" : "Sign in with Nostr"}
      </button>
      {state === "checking" && (
        <p class="muted">
          Needs JavaScript and a NIP-07 Nostr extension (nos2x, Alby) holding the node's key. Without them,
          use <code>infernet login</code>.
        </p>
      )}
      {state === "absent" && (
        <p class="muted" data-nostr="absent">
          No Nostr extension found in this browser. Install one (nos2x, Alby) with your node's key, or use
          {" "}
          <code>infernet login</code>.
        </p>
      )}
      {state === "error" && <p class="notice error" role="alert">Sign-in failed: {message}</p>}
    </div>
  );
}
