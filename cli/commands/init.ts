// `infernet init`: creates the node's Nostr key (mode 0600) and prints its npub.
import { createIdentity, keyPath } from "../identity/node_key.ts";
import { parseUrlFlag, writeNodeConfig } from "../config.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { CliError } from "../cli_error.ts";
import { readDaemonPid } from "../daemon/pid_file.ts";

/** Copies the node's key aside (`node.key.bak-<time>`, mode 0600) before --force replaces it; its path, or null with no key. */
async function backUpKey(home: string): Promise<string | null> {
  const path = keyPath(home);
  const backup = `${path}.bak-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  try {
    await Deno.copyFile(path, backup);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  await Deno.chmod(backup, 0o600);
  return backup;
}

/** Runs `infernet init`. */
export async function runInit(ctx: CommandContext): Promise<void> {
  const f = parseFlags("init", ctx.args, {
    force: { type: "boolean" },
    server: { type: "string" },
    json: { type: "boolean" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  // Every flag is checked before anything is written: a typo never costs the key.
  const server = f.server ? parseUrlFlag("server", f.server) : null;
  let backup: string | null = null;
  if (f.force) {
    if ((await readDaemonPid(home))?.running) {
      throw new CliError(
        "daemon_running",
        "the daemon is running with this node's key; stop it first ('infernet stop'), then init --force",
      );
    }
    backup = await backUpKey(home);
  }
  const identity = await createIdentity(home, { force: f.force });
  if (server) await writeNodeConfig(home, { ...config, server });
  if (f.json) {
    ctx.print(
      JSON.stringify({
        npub: identity.npub,
        pubkey: identity.pubkey,
        key_file: keyPath(home),
        old_key_file: backup,
      }),
    );
    return;
  }
  if (backup) ctx.print(`the old key is kept in ${backup} (its registration and earnings stay with it)`);
  ctx.print(`node identity created: ${identity.npub}`);
  ctx.print(`key: ${keyPath(home)} (mode 0600; it never leaves this machine — back it up)`);
  ctx.print(`next: infernet register --server <control plane URL>, then infernet start`);
}
