// Countersign (or release) a node's claim with the operator's key in the browser's NIP-07
// extension: signs the event (kind 7472 naming the claim, or a NIP-09 deletion of the operator's
// countersignature) and posts it, same origin, JSON. Without an extension it names the CLI instead.
import { useState } from "preact/hooks";

interface Nip07 {
  signEvent(event: { kind: number; created_at: number; tags: string[][]; content: string }): Promise<unknown>;
}

/** What the button does: countersign a pending claim, or revoke an active one. */
export interface ClaimSignerProps {
  action: "countersign" | "revoke";
  claimId: string;
  nodePubkey: string;
  /** For `revoke`: the operator's countersignature to delete. */
  countersignId: string | null;
}

async function errorText(res: Response): Promise<string> {
  const body = await res.json().catch(() => null);
  return body?.error?.message ?? `the server answered ${res.status}`;
}

/** One button; the page reloads when the server has taken the signed event. */
export default function ClaimSigner(props: ClaimSignerProps) {
  const [state, setState] = useState<"idle" | "working" | "error">("idle");
  const [message, setMessage] = useState("");
  const run = async () => {
    const nostr = (globalThis as { nostr?: Nip07 }).nostr;
    if (!nostr) {
      setMessage("no NIP-07 extension here; use `infernet operator countersign --key <file>`");
      return setState("error");
    }
    setState("working");
    try {
      const now = Math.floor(Date.now() / 1000);
      const event = props.action === "countersign"
        ? await nostr.signEvent({
          kind: 7472,
          created_at: now,
          content: "",
          tags: [["e", props.claimId], ["p", props.nodePubkey], ["claim", "infernet-operator"]],
        })
        : await nostr.signEvent({
          kind: 5,
          created_at: now,
          content: "operator claim revoked",
          tags: [["e", props.countersignId ?? ""], ["k", "7472"]],
        });
      const res = await fetch(`/operator/claims/${props.action}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ event }),
      });
      if (!res.ok) throw new Error(await errorText(res));
      location.reload();
    } catch (err) {
      setMessage((err as Error).message || String(err));
      setState("error");
    }
  };
  return (
    <span class="claim-signer">
      <button
        type="button"
        class={props.action === "revoke" ? "secondary" : ""}
        onClick={run}
        disabled={state === "working"}
      >
        {props.action === "countersign" ? "Countersign with Nostr" : "Release node"}
      </button>
      {state === "error" && <span class="error-text" role="alert">{message}</span>}
    </span>
  );
}
