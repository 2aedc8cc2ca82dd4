// `GET /`: the network page from a fresh snapshot.
import type { AppContext } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { networkSnapshot } from "./network_data.ts";
import { NetworkPage } from "./NetworkPage.tsx";
import { renderPage } from "./render.ts";

/** `GET /`. */
export function networkPage(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> =>
    renderPage(c, <NetworkPage snapshot={await networkSnapshot(cp)} />);
}
