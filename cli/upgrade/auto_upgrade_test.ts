import assert from "node:assert/strict";
import { createLogger, sleep } from "../../shared/mod.ts";
import {
  type PackFile,
  packTarball,
  signedPackFiles,
  startFakeNpmRegistry,
} from "../../testing/fake_npm_registry.ts";
import { AutoUpgrader, jitteredIntervalMs, runUpgrade, type UpgradeEnvironment } from "./auto_upgrade.ts";
import { checkForUpgrade, packumentUrl } from "./registry.ts";
import { readTgz, TarError } from "./tar.ts";
import { UPGRADE_DEFAULTS, type UpgradeSettings } from "./upgrade_config.ts";
import { currentVersion } from "./versions.ts";
import { RELEASE_FILE } from "./release_signature.ts";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";

const log = createLogger({ level: "silent" });

/** The publisher's release key, trusted by the tests' settings. */
const releaseKey = generateSecretKey();

/** `files` with RELEASE.json signed by `key` (the trusted release key unless told). */
function signedFiles(name: string, version: string, files: PackFile[], key = releaseKey): PackFile[] {
  return signedPackFiles(files, key, name, version);
}

function tinyCli(version: string, printed = version, name = "infernet"): PackFile[] {
  return signedFiles(name, version, [
    {
      path: "package.json",
      data: JSON.stringify({ name, version, dependencies: { ws: "8.23.0" } }),
    },
    { path: "deno.json", data: "{}" },
    { path: "cli/main.ts", data: `console.log(${JSON.stringify(printed)});\n` },
  ]);
}

async function setup(
  fn: (t: {
    registry: ReturnType<typeof startFakeNpmRegistry>;
    env: UpgradeEnvironment;
    settings: UpgradeSettings;
    home: string;
  }) => Promise<void>,
) {
  const registry = startFakeNpmRegistry();
  const home = await Deno.makeTempDir({ prefix: "infernet-upgrade-" });
  const currentRoot = `${home}/src`;
  await Deno.mkdir(`${currentRoot}/node_modules`, { recursive: true });
  await Deno.writeTextFile(`${currentRoot}/package.json`, JSON.stringify({ dependencies: { ws: "8.23.0" } }));
  try {
    await fn({
      registry,
      home,
      env: { home, currentVersion: "0.1.0", currentRoot, denoPath: Deno.execPath() },
      settings: {
        ...UPGRADE_DEFAULTS,
        registry: registry.url,
        intervalMs: 50,
        releaseKeys: [getPublicKey(releaseKey)],
      },
    });
  } finally {
    await registry.close();
    await Deno.remove(home, { recursive: true });
  }
}

function recordingNode() {
  const calls: string[] = [];
  return {
    calls,
    drain: (ms: number) => (calls.push(`drain ${ms}`), Promise.resolve(true)),
    resume: () => (calls.push("resume"), Promise.resolve()),
  };
}

Deno.test("upgrade - tarballs round-trip, long paths included; unsafe paths are refused", async () => {
  const long = `${"deep/".repeat(30)}file.ts`;
  const files = await readTgz(
    await packTarball([{ path: "a.txt", data: "A" }, { path: long, data: "L", mode: 0o755 }]),
  );
  assert.deepEqual(files.map((f) => [f.path, new TextDecoder().decode(f.data)]), [
    ["package/a.txt", "A"],
    [`package/${long}`, "L"],
  ]);
  assert.equal(files[1].mode & 0o111, 0o111);
  await assert.rejects(readTgz(await packTarball([{ path: "../../escape", data: "x" }])), TarError);
  await assert.rejects(readTgz(new Uint8Array([1, 2, 3])), TarError);
});

Deno.test("upgrade - reads dist-tags.latest, skips prereleases unless asked, encodes scoped names", async () => {
  await setup(async ({ registry }) => {
    await registry.publish("infernet", "0.1.0", tinyCli("0.1.0"));
    await registry.publish("infernet", "0.2.0-rc.1", tinyCli("0.2.0-rc.1"), { tag: "next" });
    const opts = { registry: registry.url, packageName: "infernet" };
    assert.equal(await checkForUpgrade(opts, "0.1.0"), null);
    assert.equal((await checkForUpgrade({ ...opts, prerelease: true }, "0.1.0"))?.version, "0.2.0-rc.1");
    await registry.publish("@infernet/cli", "1.0.0", tinyCli("1.0.0", "1.0.0", "@infernet/cli"));
    assert.equal(packumentUrl(registry.url, "@infernet/cli"), `${registry.url}/@infernet%2fcli`);
    assert.equal(
      (await checkForUpgrade({ ...opts, packageName: "@infernet/cli" }, "0.9.0"))?.version,
      "1.0.0",
    );
  });
});

Deno.test("upgrade - installs, checks, drains, then switches current to the new version", async () => {
  await setup(async ({ registry, env, settings, home }) => {
    await registry.publish("infernet", "0.1.1", tinyCli("0.1.1"));
    const node = recordingNode();
    const outcome = await runUpgrade(settings, env, { node, log });
    assert.deepEqual(outcome, { status: "switched", from: "0.1.0", to: "0.1.1", drained: true });
    assert.deepEqual(node.calls, [`drain ${UPGRADE_DEFAULTS.drainTimeoutMs}`]);
    assert.equal(await currentVersion(home), "0.1.1");
    assert.equal(await Deno.readLink(`${home}/current`), "versions/0.1.1/package");
    assert.equal(
      await Deno.readLink(`${home}/versions/0.1.1/package/node_modules`),
      await Deno.realPath(`${home}/src/node_modules`),
    );
    // Already the newest: nothing happens, not even a drain.
    const again = await runUpgrade(settings, { ...env, currentVersion: "0.1.1" }, { node, log });
    assert.equal(again.status, "up_to_date");
    assert.equal(node.calls.length, 1);
  });
});

Deno.test("upgrade - a bad integrity, a version that does not run, or new dependencies keep the old version", async () => {
  await setup(async ({ registry, env, settings, home }) => {
    const node = recordingNode();
    const cases: [string, PackFile[], Parameters<typeof registry.publish>[3], RegExp][] = [
      ["0.1.1", tinyCli("0.1.1"), { corruptIntegrity: true }, /sha512/],
      ["0.1.2", tinyCli("0.1.2", "0.0.9"), {}, /does not run.*0\.0\.9/],
      [
        "0.1.3",
        signedFiles("infernet", "0.1.3", [
          { path: "package.json", data: '{"version":"0.1.3","dependencies":{"left-pad":"1.0.0"}}' },
          ...tinyCli("0.1.3").slice(1, 3),
        ]),
        {},
        /dependencies/,
      ],
    ];
    for (const [version, files, opts, why] of cases) {
      await registry.publish("infernet", version, files, opts);
      const outcome = await runUpgrade(settings, env, { node, log });
      assert.equal(outcome.status, "failed", version);
      assert.match((outcome as { reason: string }).reason, why);
    }
    assert.deepEqual(node.calls, [], "no drain before a version is ready");
    assert.equal(await currentVersion(home), null);
    assert.deepEqual(
      [...Deno.readDirSync(`${home}/versions`)].map((e) => e.name),
      [],
      "no half-installed versions",
    );
  });
});

Deno.test("upgrade - only a release signed by a trusted key, with exactly its files, is installed", async () => {
  await setup(async ({ registry, env, settings, home }) => {
    const node = recordingNode();
    const unsigned = tinyCli("0.1.1").filter((f) => f.path !== RELEASE_FILE);
    const byStranger = signedFiles("infernet", "0.1.2", tinyCli("0.1.2").slice(0, 3), generateSecretKey());
    const tampered = tinyCli("0.1.3").map((f) =>
      f.path === "cli/main.ts" ? { ...f, data: 'console.log("0.1.3"); fetch("https://evil.example");\n' } : f
    );
    const extra = [...tinyCli("0.1.4"), { path: "cli/extra.ts", data: "// not signed\n" }];
    const missing = tinyCli("0.1.5").filter((f) => f.path !== "deno.json");
    const otherVersion = [
      ...tinyCli("0.1.6").slice(0, 3),
      tinyCli("0.1.7").find((f) => f.path === RELEASE_FILE)!,
    ];
    const cases: [string, PackFile[], RegExp][] = [
      ["0.1.1", unsigned, /not signed/],
      ["0.1.2", byStranger, /signed by npub1\w+, which is not a trusted release key/],
      ["0.1.3", tampered, /cli\/main\.ts differs from the signed release/],
      ["0.1.4", extra, /cli\/extra\.ts is not in the signed release/],
      ["0.1.5", missing, /deno\.json of the signed release is missing/],
      ["0.1.6", otherVersion, /the release signed is infernet@0\.1\.7/],
    ];
    for (const [version, files, why] of cases) {
      await registry.publish("infernet", version, files);
      const outcome = await runUpgrade(settings, env, { node, log });
      assert.equal(outcome.status, "failed", version);
      assert.match((outcome as { reason: string }).reason, why, version);
    }
    // With no trusted key at all, even a well-signed release is not installed.
    await registry.publish("infernet", "0.1.8", tinyCli("0.1.8"));
    const untrusting = await runUpgrade({ ...settings, releaseKeys: [] }, env, { node, log });
    assert.match((untrusting as { reason: string }).reason, /no release key is trusted/);
    assert.deepEqual(node.calls, [], "nothing drained");
    assert.equal(await currentVersion(home), null);
    assert.deepEqual([...Deno.readDirSync(`${home}/versions`)].map((e) => e.name), [], "nothing written");
    // The same release, trusted: installed.
    assert.equal((await runUpgrade(settings, env, { node, log })).status, "switched");
    assert.equal(await currentVersion(home), "0.1.8");
  });
});

Deno.test("upgrade - the timer checks with jitter and reports a switch once", async () => {
  assert.equal(jitteredIntervalMs(1000, () => 0), 750);
  assert.equal(jitteredIntervalMs(1000, () => 1), 1250);
  await setup(async ({ registry, env, settings }) => {
    await registry.publish("infernet", "0.1.0", tinyCli("0.1.0"));
    const node = recordingNode();
    const switched = Promise.withResolvers<string>();
    const upgrader = new AutoUpgrader(settings, env, {
      node,
      log,
      onSwitched: (o) => switched.resolve(o.status === "switched" ? o.to : o.status),
    });
    upgrader.start();
    await sleep(200);
    assert.ok(registry.requests.filter((p) => p === "/infernet").length >= 2, "checked repeatedly");
    await registry.publish("infernet", "0.2.0", tinyCli("0.2.0"));
    assert.equal(await switched.promise, "0.2.0");
    upgrader.stop();
  });
});
