// The control plane, for embedding or testing: open it, build its app, serve it.
export { createApp } from "./app.ts";
export { ConfigError, parseWebConfig, type WebConfig } from "./config.ts";
export { type ControlPlane, openControlPlane, type OpenControlPlaneOptions } from "./control_plane.ts";
export { type RunningServer, serveControlPlane } from "./main.ts";
export { HttpError } from "./http_error.ts";
