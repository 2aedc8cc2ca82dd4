// GET /metrics: the control plane's metrics in Prometheus' text format, behind a bearer token
// when INFERNET_METRICS_TOKEN is set.
import { createHash, timingSafeEqual } from "node:crypto";
import type { AppContext } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { errorResponse, HttpError } from "../http_error.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** Whether an Authorization header carries exactly this bearer token, compared in constant time. */
export function hasBearerToken(header: string | undefined, token: string): boolean {
  const presented = /^Bearer +(\S+)$/i.exec(header ?? "")?.[1];
  // Digests: equal lengths whatever was presented, so the comparison's time tells nothing.
  return presented !== undefined && timingSafeEqual(sha256(presented), sha256(token));
}

/** The handler of `GET /metrics`. */
export function metricsEndpoint(cp: ControlPlane) {
  const token = cp.config.metricsToken;
  return async (c: AppContext): Promise<Response> => {
    if (token !== null && !hasBearerToken(c.req.header("authorization"), token)) {
      return errorResponse(
        new HttpError(401, "GET /metrics needs Authorization: Bearer <INFERNET_METRICS_TOKEN>.", {
          code: "invalid_api_key",
        }),
        { "www-authenticate": 'Bearer realm="metrics"' },
      );
    }
    return new Response(await cp.metrics.render(), {
      headers: { "content-type": cp.metrics.contentType, "cache-control": "no-store" },
    });
  };
}
