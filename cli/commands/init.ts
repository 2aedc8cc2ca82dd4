// `infernet init`: creates the node's Nostr key (mode 0600) and prints its npub.
import { createIdentity, keyPath } from "../identity/node_key.ts";
import { parseUrlFlag, writeNodeConfig } from "../config.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags } from "./flags.ts";

/** Runs `infernet init`. */
export async function runInit(ctx: CommandContext): Promise<void> {
  const f = parseFlags("init", ctx.args, {
    force: { type: "boolean" },
    server: { type: "string" },
    json: { type: "boolean" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await createIdentity(home, { force: f.force });
  if (f.server) await writeNodeConfig(home, { ...config, server: parseUrlFlag("server", f.server) });
  if (f.json) {
    ctx.print(JSON.stringify({ npub: identity.npub, pubkey: identity.pubkey, key_file: keyPath(home) }));
    return;
  }
  ctx.print(`node identity created: ${identity.npub}`);
  ctx.print(`key: ${keyPath(home)} (mode 0600; it never leaves this machine — back it up)`);
  ctx.print(`next: infernet register --server <control plane URL>, then infernet start`);
}
