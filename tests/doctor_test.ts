import assert from "node:assert/strict";
import { runCli } from "../testing/run_cli.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { checkClockSkew, checkDiskSpace, type CheckResult } from "../cli/commands/doctor.ts";

const byName = (checks: CheckResult[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

Deno.test("doctor - against a real control plane and test engine: FAIL until registered, then OK; a 0644 key FAILs", async () => {
  const t = await openTestControlPlane({ serve: true });
  const engine = await startTestEngine();
  const home = await Deno.makeTempDir({ prefix: "infernet-doctor-" });
  try {
    const server = `http://127.0.0.1:${t.server!.port}`;
    const env = { INFERNET_HOME: home };
    assert.equal((await runCli(["init"], env)).code, 0);
    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ server, engine_url: engine.url }));

    const before = await runCli(["doctor", "--json"], env);
    assert.equal(before.code, 1, "a FAIL exits 1");
    const b = byName(JSON.parse(before.stdout).checks);
    assert.equal(b.key.status, "ok", b.key.detail);
    assert.equal(b.engine.status, "ok", b.engine.detail);
    assert.match(b.engine.detail, /TEST ENGINE/);
    assert.equal(b.server.status, "ok", b.server.detail);
    assert.equal(b.clock.status, "ok", b.clock.detail);
    assert.equal(b.registered.status, "fail");
    assert.match(b.registered.fix ?? "", /infernet register/);
    assert.ok(["ok", "warn"].includes(b.gpu.status));
    assert.ok(["ok", "warn"].includes(b.address.status));
    // The CLI may read free space (--allow-sys=statfs): this machine has more than enough.
    assert.equal(b.disk.status, "ok", b.disk.detail);
    assert.match(b.disk.detail, /GB/);

    const reg = await runCli(["register", "--engine-url", engine.url], env);
    assert.equal(reg.code, 0, reg.stderr);
    const after = await runCli(["doctor"], env);
    assert.equal(after.code, 0, after.stdout + after.stderr);
    assert.match(after.stdout, /^OK {4}key /m);
    assert.match(after.stdout, /^WARN {2}registered +registered, not connected$/m);
    assert.match(after.stdout, /fix: start the daemon/);

    await Deno.chmod(`${home}/node.key`, 0o644);
    const open = await runCli(["doctor", "--json"], env);
    assert.equal(open.code, 1);
    const key = byName(JSON.parse(open.stdout).checks).key;
    assert.equal(key.status, "fail");
    assert.match(key.detail, /mode 0644/);
    assert.equal(key.fix, `chmod 600 ${home}/node.key`);
    assert.match(open.stderr, /^infernet: 1 check\(s\) failed$/m);
  } finally {
    await engine.close();
    await t.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("doctor - an unreachable server and a missing key FAIL with their fixes", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-doctor-" });
  try {
    await Deno.writeTextFile(
      `${home}/config.json`,
      JSON.stringify({ server: "http://127.0.0.1:9", engine_url: "http://127.0.0.1:9" }),
    );
    const run = await runCli(["doctor", "--json"], { INFERNET_HOME: home });
    assert.equal(run.code, 1);
    const c = byName(JSON.parse(run.stdout).checks);
    assert.equal(c.key.status, "fail");
    assert.match(c.key.fix ?? "", /infernet init/);
    assert.equal(c.engine.status, "fail");
    assert.equal(c.server.status, "fail");
    assert.match(c.server.detail, /cannot reach http:\/\/127\.0\.0\.1:9/);
    assert.equal(c.registered.status, "warn");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("doctor - clock skew: OK within ±30 s, WARN to ±60 s, FAIL beyond (NIP-98's window)", () => {
  assert.equal(checkClockSkew(2_000).status, "ok");
  assert.equal(checkClockSkew(-45_000).status, "warn");
  assert.equal(checkClockSkew(61_000).status, "fail");
  assert.equal(checkClockSkew(-120_000).detail, "-120 s against the server");
  assert.match(checkClockSkew(-120_000).fix!, /timedatectl/);
});

Deno.test("doctor - disk space: unknown WARNs 'could not check', under 1 GB FAILs", () => {
  assert.equal(checkDiskSpace("/h", null).status, "warn");
  assert.equal(checkDiskSpace("/h", 512 * 1024 ** 2).status, "fail");
  assert.equal(checkDiskSpace("/h", 5 * 1024 ** 3).status, "warn");
  assert.equal(checkDiskSpace("/h", 100 * 1024 ** 3).status, "ok");
});
