import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { parseUpgradeConfig, resolveUpgradeSettings, upgradeConfigJson } from "./upgrade_config.ts";
import { BUILT_IN_RELEASE_KEYS } from "./release_signature.ts";

Deno.test("upgrade config - release keys as npub or hex, from the file and the environment, added up", () => {
  const [a, b, c] = [0, 1, 2].map(() => getPublicKey(generateSecretKey()));
  const cfg = parseUpgradeConfig({ release_keys: [npubEncode(a), b.toUpperCase()] });
  assert.deepEqual(cfg.releaseKeys, [a, b]);
  assert.deepEqual(upgradeConfigJson(cfg), { release_keys: [a, b] });
  const s = resolveUpgradeSettings(cfg, { INFERNET_UPGRADE_RELEASE_KEYS: ` ${npubEncode(c)},${a}, ` });
  assert.deepEqual(s.releaseKeys, [...BUILT_IN_RELEASE_KEYS, a, b, c]);
  assert.deepEqual(resolveUpgradeSettings(undefined, {}).releaseKeys, [...BUILT_IN_RELEASE_KEYS]);
  assert.throws(() => parseUpgradeConfig({ release_keys: ["npub1nope"] }), /release_keys must be a list/);
  assert.throws(() => parseUpgradeConfig({ release_keys: a }), /release_keys must be a list/);
  assert.throws(
    () => resolveUpgradeSettings(undefined, { INFERNET_UPGRADE_RELEASE_KEYS: "zz" }),
    /INFERNET_UPGRADE_RELEASE_KEYS must be public keys/,
  );
});
