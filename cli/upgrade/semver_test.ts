import assert from "node:assert/strict";
import { compareSemVer, isNewer, newestVersion, parseSemVer } from "./semver.ts";

Deno.test("semver - orders versions by the spec's precedence (§11 example chain)", () => {
  const chain = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "2.0.0",
    "10.0.0",
  ];
  for (let i = 0; i + 1 < chain.length; i++) {
    const a = parseSemVer(chain[i])!;
    const b = parseSemVer(chain[i + 1])!;
    assert.equal(compareSemVer(a, b), -1, `${chain[i]} < ${chain[i + 1]}`);
    assert.equal(compareSemVer(b, a), 1);
  }
  assert.equal(compareSemVer(parseSemVer("1.2.3+build.5")!, parseSemVer("1.2.3")!), 0);
});

Deno.test("semver - rejects what is not a version", () => {
  for (const bad of ["1.2", "01.2.3", "1.2.3-", "latest", "", "1.2.3.4", "1.2.x"]) {
    assert.equal(parseSemVer(bad), null, bad);
  }
  assert.equal(isNewer("garbage", "0.1.0"), false);
  assert.equal(isNewer("0.1.1", "0.1.0"), true);
  assert.equal(isNewer("0.1.0", "0.1.0"), false);
});

Deno.test("semver - the newest version skips prereleases unless asked", () => {
  const all = ["0.1.0", "0.2.0-rc.1", "0.1.5", "junk"];
  assert.equal(newestVersion(all), "0.1.5");
  assert.equal(newestVersion(all, { prerelease: true }), "0.2.0-rc.1");
  assert.equal(newestVersion([]), null);
});
