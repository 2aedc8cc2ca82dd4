import assert from "node:assert/strict";
import { cliCommand, runCli } from "../testing/run_cli.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { readDaemonPid } from "../cli/daemon/pid_file.ts";
import { RotatingLogFile } from "../cli/daemon/log_file.ts";
import { formatLogLine } from "../cli/commands/lifecycle.ts";
import { sleep } from "../shared/mod.ts";

async function until(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

Deno.test("lifecycle - start writes a locked pid file and a log; stop drains it; restart starts it in the background; stale files are cleaned", async () => {
  const t = await openTestControlPlane({ serve: true });
  const engine = await startTestEngine();
  const home = await Deno.makeTempDir({ prefix: "infernet-life-" });
  // The `infernet` that restart starts in the background: this checkout's launcher.
  const bin = `${home}/bin`;
  await Deno.mkdir(bin);
  const launcher = new URL("../cli/infernet.sh", import.meta.url).pathname;
  await Deno.writeTextFile(`${bin}/infernet`, `#!/bin/sh\nexec sh ${launcher} "$@"\n`, { mode: 0o755 });
  const env = {
    INFERNET_HOME: home,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    // Never ask the real npm registry for upgrades from a test.
    INFERNET_UPGRADE_REGISTRY: "http://127.0.0.1:9",
  };
  try {
    const server = `http://127.0.0.1:${t.server!.port}`;
    assert.equal((await runCli(["init"], env)).code, 0);
    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ server, engine_url: engine.url }));

    const child = cliCommand(["start", "--log-file"], env).spawn();
    // Drained, not cancelled: printing into a closed pipe on the way out would end it with SIGPIPE.
    void child.stdout.pipeTo(new WritableStream()).catch(() => {});
    void child.stderr.pipeTo(new WritableStream()).catch(() => {});
    await until("pid file", async () => (await readDaemonPid(home))?.running === true);
    const { pid } = (await readDaemonPid(home))!;
    await until("log line", async () => /online at/.test(await Deno.readTextFile(`${home}/logs/daemon.log`)));

    const second = await runCli(["start"], env);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`already running \\(pid ${pid}\\)`));

    const logs = await runCli(["logs", "-n", "5"], env);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /INFO node npub1\w+ online at http:\/\/127\.0\.0\.1/);

    const stop = await runCli(["stop"], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`stopping the node daemon \\(pid ${pid}\\)[^]*node stopped`));
    assert.equal((await child.status).code, 0, "the daemon exits cleanly after draining");
    assert.equal(await readDaemonPid(home), null, "the pid file is removed on exit");
    assert.match(await Deno.readTextFile(`${home}/logs/daemon.log`), /draining/);
    assert.match((await runCli(["stop"], env)).stdout, /no node daemon is running/);

    // A pid file no daemon holds (a crash) is stale: reported and removed.
    await Deno.writeTextFile(`${home}/daemon.pid`, "999999\n");
    const stale = await runCli(["stop"], env);
    assert.match(stale.stdout, /removed a stale pid file/);
    assert.equal(await readDaemonPid(home), null);

    const restart = await runCli(["restart"], env);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(restart.stdout, /started in the background \(pid \d+\)/);
    const bg = await readDaemonPid(home);
    assert.equal(bg?.running, true);
    const again = await runCli(["stop"], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readDaemonPid(home), null);
  } finally {
    await runCli(["stop", "--timeout", "20"], { INFERNET_HOME: home }).catch(() => {});
    await engine.close();
    await t.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("lifecycle - logs -f follows appended lines", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-logs-" });
  try {
    const log = RotatingLogFile.open(`${home}/logs/daemon.log`);
    log.writeLine(JSON.stringify({ time: "t0", level: "info", msg: "first" }));
    const child = cliCommand(["logs", "-f", "-n", "1"], { INFERNET_HOME: home }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    const read = async (re: RegExp) => {
      while (!re.test(out)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`logs -f ended before ${re}: ${out}`);
        out += value;
      }
    };
    await read(/t0 INFO first/);
    log.writeLine(JSON.stringify({ time: "t1", level: "warn", msg: "second", code: 4 }));
    await read(/t1 WARN second code=4/);
    log.close();
    child.kill("SIGTERM");
    await reader.cancel();
    await child.status;
    void child.stderr.cancel();
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("lifecycle - the log rotates at its size limit, keeping N old files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "infernet-rotate-" });
  try {
    const log = RotatingLogFile.open(`${dir}/daemon.log`, { maxBytes: 100, keep: 2 });
    for (let i = 0; i < 20; i++) log.writeLine(`line ${i} ${"x".repeat(30)}`);
    log.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["daemon.log", "daemon.log.1", "daemon.log.2"]);
    for (const n of names) assert.ok(Deno.statSync(`${dir}/${n}`).size <= 100, n);
    assert.match(Deno.readTextFileSync(`${dir}/daemon.log`), /line 19/);
    assert.equal(formatLogLine("not json"), "not json");
    assert.equal(
      formatLogLine('{"time":"T","level":"error","msg":"m","svc":"node","pid":1,"err":"x"}'),
      "T ERROR m err=x",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
