import assert from "node:assert/strict";
import { runCli } from "../../testing/run_cli.ts";
import { quoteUnitArg, renderUnit } from "../service/systemd_unit.ts";

// A temporary HOME with a fake `systemctl` first on PATH that records its arguments, one call a line.
async function withFakeSystemd(
  fn: (home: string, env: Record<string, string>, calls: () => string[]) => Promise<void>,
) {
  const home = await Deno.makeTempDir({ prefix: "infernet-service-" });
  const bin = `${home}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/systemctl`,
    `#!/bin/sh
echo "$*" >> "${home}/systemctl.calls"
case "$*" in
  *is-enabled*) echo enabled ;;
  *is-active*) echo active ;;
esac
`,
    { mode: 0o755 },
  );
  const env = {
    HOME: home,
    INFERNET_HOME: `${home}/.config/infernet`,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    XDG_CONFIG_HOME: `${home}/.config`,
  };
  const calls = () => {
    try {
      return Deno.readTextFileSync(`${home}/systemctl.calls`).trim().split("\n");
    } catch {
      return [];
    }
  };
  try {
    await fn(home, env, calls);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("service - install writes a user unit running the installed infernet with the daemon's settings, and enables it", async () => {
  await withFakeSystemd(async (home, env, calls) => {
    const run = await runCli(["service", "install", "--user", "--bin", "/opt/infernet/bin/infernet"], env);
    assert.equal(run.code, 0, run.stderr);
    const unitPath = `${home}/.config/systemd/user/infernet.service`;
    const unit = await Deno.readTextFile(unitPath);
    assert.match(unit, /^ExecStart=\/opt\/infernet\/bin\/infernet start --log-file$/m);
    assert.ok(unit.includes(`Environment=INFERNET_HOME=${home}/.config/infernet\n`));
    assert.match(unit, /^Environment=PATH=.*\/bin:/m);
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^KillSignal=SIGTERM$/m);
    assert.match(unit, /^TimeoutStopSec=60$/m);
    assert.match(unit, /^WantedBy=default.target$/m);
    assert.deepEqual(calls(), ["--user daemon-reload", "--user enable --now infernet.service"]);
    assert.match(run.stdout, /enabled and started infernet.service/);

    const status = await runCli(["service", "status", "--json"], env);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(JSON.parse(status.stdout), {
      installed: true,
      scope: "user",
      unit_path: unitPath,
      enabled: "enabled",
      active: "active",
    });

    const gone = await runCli(["service", "uninstall"], env);
    assert.equal(gone.code, 0, gone.stderr);
    await assert.rejects(Deno.stat(unitPath), Deno.errors.NotFound);
    assert.deepEqual(calls().slice(-2), ["--user disable --now infernet.service", "--user daemon-reload"]);
    const after = await runCli(["service", "status", "--json"], env);
    assert.equal(JSON.parse(after.stdout).installed, false);
  });
});

Deno.test("service - from source, the unit runs cli/infernet.sh through sh (the launcher's own permissions)", async () => {
  await withFakeSystemd(async (home, env) => {
    const run = await runCli(["service", "install"], env);
    assert.equal(run.code, 0, run.stderr);
    const unit = await Deno.readTextFile(`${home}/.config/systemd/user/infernet.service`);
    const launcher = new URL("../infernet.sh", import.meta.url).pathname;
    assert.ok(unit.includes(`ExecStart=/bin/sh ${launcher} start --log-file\n`), unit);
    assert.match(unit, /^Environment=DENO=\/.+$/m);
  });
});

Deno.test("service - usage errors: both scopes, a relative --bin, an unknown subcommand", async () => {
  await withFakeSystemd(async (_home, env, calls) => {
    assert.equal((await runCli(["service", "install", "--user", "--system"], env)).code, 2);
    const rel = await runCli(["service", "install", "--bin", "infernet"], env);
    assert.equal(rel.code, 1);
    assert.match(rel.stderr, /pass --bin \/path\/to\/infernet/);
    assert.equal((await runCli(["service", "frob"], env)).code, 2);
    assert.deepEqual(calls(), []);
  });
});

Deno.test("service - a system unit targets multi-user; paths with spaces and % are quoted for systemd", () => {
  const unit = renderUnit({
    scope: "system",
    execStart: ["/opt/my apps/infernet", "start", "--log-file"],
    home: "/var/lib/infernet 100%",
  });
  assert.match(unit, /^ExecStart="\/opt\/my apps\/infernet" start --log-file$/m);
  assert.match(unit, /^Environment="INFERNET_HOME=\/var\/lib\/infernet 100%%"$/m);
  assert.match(unit, /^WantedBy=multi-user.target$/m);
  assert.equal(quoteUnitArg('a"b'), '"a\\"b"');
  assert.equal(quoteUnitArg("$HOME"), "$$HOME");
});
