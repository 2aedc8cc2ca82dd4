// The node's Nostr identity: a secp256k1 key in `$INFERNET_HOME/node.key` (nsec, mode 0600).
// It never leaves the node; the control plane only ever sees the public key.
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { decode, npubEncode, nsecEncode } from "nostr-tools/nip19";
import { CliError } from "../cli_error.ts";

/** The node's key pair. */
export interface NodeIdentity {
  secretKey: Uint8Array;
  pubkey: string;
  npub: string;
}

/** The key file inside the node's home. */
export function keyPath(home: string): string {
  return `${home}/node.key`;
}

function fromSecret(secretKey: Uint8Array): NodeIdentity {
  const pubkey = getPublicKey(secretKey);
  return { secretKey, pubkey, npub: npubEncode(pubkey) };
}

/** Creates a key; refuses to replace an existing one unless `force`. */
export async function createIdentity(home: string, opts: { force?: boolean } = {}): Promise<NodeIdentity> {
  await Deno.mkdir(home, { recursive: true, mode: 0o700 });
  const path = keyPath(home);
  const secretKey = generateSecretKey();
  try {
    await Deno.writeTextFile(path, nsecEncode(secretKey) + "\n", {
      mode: 0o600,
      createNew: !opts.force,
    });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new CliError(
        "identity_exists",
        `${path} already exists; this node has an identity. Use --force to replace it (the old key's registration and earnings stay with the old key).`,
      );
    }
    throw err;
  }
  await Deno.chmod(path, 0o600);
  return fromSecret(secretKey);
}

/** Loads the node's key; a missing or malformed key file is a clear error. */
export function loadIdentity(home: string): Promise<NodeIdentity> {
  return loadKeyFile(keyPath(home), "no node key at %s; run 'infernet init' first");
}

/** Loads a key file holding an nsec (the node's, or an operator's given with `--key`). */
export async function loadKeyFile(path: string, missing = "no key file at %s"): Promise<NodeIdentity> {
  let text: string;
  try {
    text = (await Deno.readTextFile(path)).trim();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new CliError("no_identity", missing.replace("%s", path));
    }
    throw new CliError("bad_identity", `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const d = decode(text);
    if (d.type !== "nsec") throw new Error("not an nsec");
    return fromSecret(d.data);
  } catch {
    throw new CliError("bad_identity", `${path} does not hold an nsec key`);
  }
}

/** Warns-worthy check: true when the key file is readable by others. */
export async function keyFileTooOpen(home: string): Promise<boolean> {
  const info = await Deno.stat(keyPath(home));
  return info.mode !== null && (info.mode & 0o077) !== 0;
}
