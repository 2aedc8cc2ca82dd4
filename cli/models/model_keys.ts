// Model keys on this machine (IPIP-0028, docs/protocol.md §14): the secret of each model key this
// operator created or was granted, in `$INFERNET_HOME/model_keys/<model pubkey hex>.nsec` (mode
// 0600). A node opens a direct request encrypted to a model key (ticket target "model") with it.
import { getPublicKey } from "nostr-tools/pure";
import { decode, nsecEncode } from "nostr-tools/nip19";
import { CliError } from "../cli_error.ts";

const HEX64 = /^[0-9a-f]{64}$/;

/** The folder of model secrets. */
export function modelKeysDir(home: string): string {
  return `${home}/model_keys`;
}

/** Keeps a model key's secret (mode 0600); returns its public key (hex). */
export async function saveModelSecret(home: string, secretKey: Uint8Array): Promise<string> {
  const pubkey = getPublicKey(secretKey);
  const dir = modelKeysDir(home);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/${pubkey}.nsec`;
  await Deno.writeTextFile(path, nsecEncode(secretKey) + "\n", { mode: 0o600 });
  // A file that already existed keeps its old mode through writeTextFile: set it.
  await Deno.chmod(path, 0o600).catch(() => {});
  return pubkey;
}

/** The secret of the model key `pubkey` (hex), or null when this machine does not hold it. */
export async function loadModelSecret(home: string, pubkey: string): Promise<Uint8Array | null> {
  if (!HEX64.test(pubkey)) return null;
  const path = `${modelKeysDir(home)}/${pubkey}.nsec`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new CliError("model_key", `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const decoded = decode(text.trim());
    if (decoded.type !== "nsec" || getPublicKey(decoded.data) !== pubkey) {
      throw new Error("not this key's nsec");
    }
    return decoded.data;
  } catch (err) {
    throw new CliError("model_key", `${path} does not hold model key ${pubkey}`, { cause: err });
  }
}

/** The public keys (hex) of the model keys this machine holds, sorted. */
export async function listModelKeys(home: string): Promise<string[]> {
  const keys: string[] = [];
  try {
    for await (const e of Deno.readDir(modelKeysDir(home))) {
      const m = /^([0-9a-f]{64})\.nsec$/.exec(e.name);
      if (e.isFile && m) keys.push(m[1]);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return keys.sort();
}

/** Keeps the announcement of a model key this machine created (grants point at it). */
export async function saveAnnouncement(home: string, modelPubkey: string, event: unknown): Promise<void> {
  await Deno.writeTextFile(
    `${modelKeysDir(home)}/${modelPubkey}.announcement.json`,
    JSON.stringify(event) + "\n",
  );
}

/** The announcement of a model key created here, as saved; null when there is none. */
export async function loadAnnouncement(home: string, modelPubkey: string): Promise<unknown> {
  if (!HEX64.test(modelPubkey)) return null;
  try {
    return JSON.parse(await Deno.readTextFile(`${modelKeysDir(home)}/${modelPubkey}.announcement.json`));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof SyntaxError) return null;
    throw err;
  }
}
