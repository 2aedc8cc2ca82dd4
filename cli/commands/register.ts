// `infernet register`: signs the node record and registers it with the control plane.
import { npubEncode } from "nostr-tools/nip19";
import { loadIdentity } from "../identity/node_key.ts";
import { detectHardware } from "../hardware/detect.ts";
import { writeNodeConfig } from "../config.ts";
import { buildAdvert } from "../node_advert.ts";
import { registerNode } from "../daemon/node_daemon.ts";
import { type CommandContext, loadNodeConfig, requireEngine, resolveServer } from "./context.ts";
import { parseFlags } from "./flags.ts";

/** Runs `infernet register`. */
export async function runRegister(ctx: CommandContext): Promise<void> {
  const f = parseFlags("register", ctx.args, {
    server: { type: "string" },
    "engine-url": { type: "string" },
    json: { type: "boolean" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await loadIdentity(home);
  const server = resolveServer(f.server, config, ctx.env);
  const [engine, hw] = await Promise.all([requireEngine(f["engine-url"], config), detectHardware()]);
  const advert = buildAdvert(identity, hw, engine, config);
  const answer = await registerNode(server, identity, advert);
  // What worked is remembered for `start`, `status`, `price set` and `doctor`.
  const engineUrl = f["engine-url"] ? f["engine-url"].replace(/\/+$/, "") : config.engineUrl;
  if ((f.server && f.server !== config.server) || engineUrl !== config.engineUrl) {
    await writeNodeConfig(home, { ...config, server, engineUrl });
  }
  if (f.json) {
    ctx.print(JSON.stringify(answer));
    return;
  }
  ctx.print(`registered ${npubEncode(identity.pubkey)} with ${server}`);
  ctx.print(
    `engine: ${engine.kind}${
      engine.kind === "test" ? " (TEST ENGINE: deterministic echo, not a real model)" : ""
    } at ${engine.baseUrl}`,
  );
  ctx.print(`models: ${advert.models.map((m) => m.id).join(", ")}; VRAM tier: ${advert.vramTier}`);
}
