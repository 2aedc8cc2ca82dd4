// The operator's part of the nav: "Operator login" when signed out; the node's short key and a
// sign-out form (a CSRF-checked POST) when signed in. The session comes from the request through
// a context that `renderPage` provides, so no page has to pass it along.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

/** The signed-in operator's node key (hex) for this render, or null. */
export const SessionContext = createContext<string | null>(null);

/** Whether that key is an operator key (docs/protocol.md §10) rather than a node's. */
export const OperatorRoleContext = createContext<boolean>(false);

/** The nav entries for operator sign-in and sign-out. */
export function SessionNav() {
  const pubkey = useContext(SessionContext);
  const operator = useContext(OperatorRoleContext);
  if (!pubkey) return <a href="/login">Operator login</a>;
  return (
    <>
      <a href="/operator" title={pubkey}>{operator ? "Operator" : "Node"} {pubkey.slice(0, 8)}…</a>
      <form method="post" action="/logout" class="nav-logout">
        <button type="submit" class="secondary">Sign out</button>
      </form>
    </>
  );
}
