import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { checkRelease, RELEASE_FILE } from "../cli/upgrade/release_signature.ts";
import { packTgz, readTgz } from "../cli/upgrade/tar.ts";
import { signTarball } from "./release_sign.ts";

const fromRoot = (files: { path: string; data: Uint8Array }[]) =>
  files.map((f) => ({ path: f.path.slice("package/".length), data: f.data }));

Deno.test("release-sign - a signed tarball passes the upgrade check, and only as signed", async () => {
  const tgz = await packTgz([
    { path: "package/package.json", data: JSON.stringify({ name: "infernet", version: "1.2.3" }) },
    { path: "package/cli/main.ts", data: "console.log('1.2.3');\n" },
  ]);
  const key = generateSecretKey();
  const signed = await signTarball(tgz, key);
  assert.deepEqual([signed.packageName, signed.version, signed.files], ["infernet", "1.2.3", 2]);
  const files = fromRoot(await readTgz(signed.tarball));
  assert.deepEqual(files.map((f) => f.path), ["package.json", "cli/main.ts", RELEASE_FILE]);
  const expect = { packageName: "infernet", version: "1.2.3", trustedKeys: [getPublicKey(key)] };
  checkRelease(files, expect);
  // Signing again replaces the old RELEASE.json rather than adding a second one.
  const again = fromRoot(await readTgz((await signTarball(signed.tarball, key)).tarball));
  assert.equal(again.filter((f) => f.path === RELEASE_FILE).length, 1);
  checkRelease(again, expect);
  const changed = files.map((f) =>
    f.path === "cli/main.ts" ? { ...f, data: new TextEncoder().encode("console.log('x');\n") } : f
  );
  assert.throws(() => checkRelease(changed, expect), /cli\/main\.ts differs from the signed release/);
  await assert.rejects(
    signTarball(await packTgz([{ path: "package/a.txt", data: "a" }]), key),
    /needs a name and a version/,
  );
});
