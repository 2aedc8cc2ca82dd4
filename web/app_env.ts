// The values middleware hands to handlers, typed once for the whole app.
import type { Context, MiddlewareHandler } from "hono";
import type { ApiCaller } from "./api/v1/api_key_auth.ts";
import type { SessionRole } from "./auth/session.ts";

/** Hono environment of the control plane's app. */
export interface AppEnv {
  Variables: {
    /** The `/v1` caller, set by the API key middleware. */
    caller: ApiCaller;
    /** When the `/v1` request reached the app (`performance.now()`), for its Server-Timing. */
    receivedAt: number;
    /** The job a `/v1` request became (its x-request-id from then on, errors included). */
    jobId: string;
    /** The parsed JSON body of a `/v1` POST. */
    body: unknown;
    /** The node's public key, set by the NIP-98 middleware. */
    nodePubkey: string;
    /** The raw body the NIP-98 signature covers. */
    rawBody: Uint8Array;
    /** The signed-in key (hex), set by `requireOperator`: a node's, or an operator's (see `sessionRole`). */
    operatorPubkey: string;
    /** Whose key `operatorPubkey` is: `node` (a node signed in as itself) or `operator`. */
    sessionRole: SessionRole;
  };
}

/** A handler's context in this app. */
export type AppContext = Context<AppEnv>;

/** A middleware in this app. */
export type AppMiddleware = MiddlewareHandler<AppEnv>;
