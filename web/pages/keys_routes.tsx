// `GET /keys` and `POST /keys` (a plain form): the same key creation as `POST /api/keys`, with
// the same per-address rate limit.
import { createApiKey } from "../../db/mod.ts";
import type { AppContext } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { clientAddress } from "../api/keys.ts";
import { KeysPage } from "./KeysPage.tsx";
import { renderPage } from "./render.ts";

/** `GET /keys`: the form. */
export function keysPage() {
  return (c: AppContext): Response => renderPage(c, <KeysPage />);
}

/** `POST /keys`: creates a key and shows it once. */
export function createKeyPage(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const wait = await cp.keyCreationLimiter.take(clientAddress(c));
    if (wait > 0) {
      c.header("retry-after", String(wait));
      return renderPage(
        c,
        <KeysPage error={`Too many keys created from this address; retry in ${wait} s.`} />,
        429,
      );
    }
    const form = await c.req.parseBody();
    const label = typeof form.label === "string" && form.label.trim()
      ? form.label.trim().slice(0, 100)
      : null;
    const { key } = await createApiKey(cp.db.sql, { label });
    return renderPage(c, <KeysPage apiKey={key} />);
  };
}
