// The control plane's own Nostr key: it countersigns receipts and signs verifications. Generated
// on first start as an nsec in a file of mode 0600 (INFERNET_PLATFORM_KEY_FILE, default
// `<data dir>/platform.key`); instances of one deployment share the file. Only its public key
// leaves the process (GET /.well-known/infernet.json, and NIP-05's /.well-known/nostr.json).
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { decode, npubEncode, nsecEncode } from "nostr-tools/nip19";
import { dirname } from "node:path";

/** The platform's key pair. */
export interface PlatformKey {
  secretKey: Uint8Array;
  /** Hex. */
  pubkey: string;
  npub: string;
}

function fromSecret(secretKey: Uint8Array): PlatformKey {
  const pubkey = getPublicKey(secretKey);
  return { secretKey, pubkey, npub: npubEncode(pubkey) };
}

/** Reads the key file, creating it (mode 0600, never overwriting) when it does not exist. */
export async function loadPlatformKey(path: string): Promise<PlatformKey> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    await Deno.mkdir(dirname(path), { recursive: true });
    const secretKey = generateSecretKey();
    try {
      await Deno.writeTextFile(path, nsecEncode(secretKey) + "\n", { mode: 0o600, createNew: true });
      return fromSecret(secretKey);
    } catch (raced) {
      // Another instance created it first: use theirs.
      if (!(raced instanceof Deno.errors.AlreadyExists)) throw raced;
      text = await Deno.readTextFile(path);
    }
  }
  const mode = (await Deno.stat(path)).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new Error(
      `${path} must not be readable by others (mode 0600); it is ${(mode & 0o777).toString(8)}`,
    );
  }
  try {
    const d = decode(text.trim());
    if (d.type !== "nsec") throw new Error("not an nsec");
    return fromSecret(d.data);
  } catch (err) {
    throw new Error(`${path} does not hold an nsec key`, { cause: err });
  }
}

/** A key held in memory only (tests, and servers started without a data dir). */
export function ephemeralPlatformKey(): PlatformKey {
  return fromSecret(generateSecretKey());
}
