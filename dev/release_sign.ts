// `deno task release-sign --key FILE PACKAGE.tgz`: signs a package tarball as `npm pack` made it,
// before `npm publish PACKAGE.tgz`. Every file of the tarball is hashed into RELEASE.json
// (cli/upgrade/release_signature.ts), a Nostr event signed with the release key in FILE (an nsec, as
// `infernet init` writes one), which is added to the tarball, rewritten in place. Nodes install the
// release only when that key is one they trust (BUILT_IN_RELEASE_KEYS, or upgrade.release_keys).
import { parseArgs } from "node:util";
import { npubEncode } from "nostr-tools/nip19";
import { loadKeyFile } from "../cli/identity/node_key.ts";
import { RELEASE_FILE, signRelease } from "../cli/upgrade/release_signature.ts";
import { packTgz, readTgz } from "../cli/upgrade/tar.ts";

/** Signs a package tarball's files as its package.json's name@version; the tarball with RELEASE.json. */
export async function signTarball(
  tgz: Uint8Array<ArrayBuffer>,
  secretKey: Uint8Array,
): Promise<{ tarball: Uint8Array<ArrayBuffer>; packageName: string; version: string; files: number }> {
  const entries = (await readTgz(tgz)).filter((f) =>
    f.path.split("/").pop() !== RELEASE_FILE ||
    f.path.split("/").length !== 2
  );
  const tops = new Set(entries.map((f) => f.path.split("/")[0]));
  if (tops.size !== 1) throw new Error("the tarball has no single package folder");
  const top = [...tops][0];
  const files = entries.map((f) => ({ path: f.path.slice(top.length + 1), data: f.data }));
  const manifest = files.find((f) => f.path === "package.json");
  const pkg = manifest ? JSON.parse(new TextDecoder().decode(manifest.data)) : null;
  if (typeof pkg?.name !== "string" || typeof pkg?.version !== "string") {
    throw new Error("the tarball's package.json needs a name and a version");
  }
  const event = signRelease(secretKey, { packageName: pkg.name, version: pkg.version, files });
  const tarball = await packTgz([
    ...entries,
    { path: `${top}/${RELEASE_FILE}`, data: JSON.stringify(event) + "\n", mode: 0o644 },
  ]);
  return { tarball, packageName: pkg.name, version: pkg.version, files: files.length };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { key: { type: "string" } },
    allowPositionals: true,
  });
  if (!values.key || positionals.length !== 1) {
    console.error("usage: deno task release-sign --key FILE PACKAGE.tgz (FILE: the release key, an nsec)");
    Deno.exit(2);
  }
  try {
    const key = await loadKeyFile(values.key);
    const path = positionals[0];
    const signed = await signTarball(await Deno.readFile(path), key.secretKey);
    await Deno.writeFile(path, signed.tarball);
    console.log(
      `${path}: ${signed.packageName}@${signed.version}, ${signed.files} files, signed by ` +
        `${npubEncode(key.pubkey)}; now npm publish ${path}`,
    );
  } catch (err) {
    console.error(`release-sign: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
