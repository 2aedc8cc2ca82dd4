import assert from "node:assert/strict";
import { loadPlatformKey } from "./platform_key.ts";

Deno.test("platform key - created once with mode 0600, then read back the same", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/platform.key`;
    const first = await loadPlatformKey(path);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const again = await loadPlatformKey(path);
    assert.equal(again.pubkey, first.pubkey);
    assert.match(first.npub, /^npub1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("platform key - refuses a key file others can read, and one without an nsec", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/platform.key`;
    await loadPlatformKey(path);
    await Deno.chmod(path, 0o644);
    await assert.rejects(loadPlatformKey(path), /mode 0600/);
    await Deno.writeTextFile(path, "hello\n", { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    await assert.rejects(loadPlatformKey(path), /does not hold an nsec/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
