// The production entry point (`deno task serve`) as a self-hoster starts it with no payment
// processor configured: it serves, refuses deposits with a clear error (no fake stands in), and
// stops cleanly on SIGTERM.
import assert from "node:assert/strict";
import { denoTaskCommand, watchOutput } from "../testing/child_output.ts";

Deno.test("main - deno task serve runs without fakes and refuses deposits it cannot take", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "infernet-serve-" });
  const child = denoTaskCommand(["serve", "--port", "0"], {
    env: { INFERNET_DATA_DIR: dataDir, INFERNET_JOURNAL_DIR: "off" },
    stderr: "piped",
  }).spawn();
  const output = watchOutput(child.stdout);
  const out = output.text;
  const errors = watchOutput(child.stderr);
  try {
    await output.waitFor(/^Payments: /m, 60_000);
    assert.match(out(), /^Payments: none configured/m);
    const base = /^Infernet control plane: (\S+)/m.exec(out())![1];
    assert.equal((await (await fetch(`${base}/health`)).json()).ok, true);
    const { key } = await (await fetch(`${base}/api/keys`, { method: "POST" })).json();
    const res = await fetch(`${base}/api/deposits`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ amount_usd: "5", coin: "USDC_SOL" }),
    });
    const body = await res.json();
    assert.equal(res.status, 503, JSON.stringify(body));
    assert.equal(body.error.code, "payments_not_configured");
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    await output.done;
    await errors.done;
    await Deno.remove(dataDir, { recursive: true });
    assert.equal(status.code, 0, out());
  }
  // A refusal the server means to give is not logged as a failure (nor with a stack).
  assert.doesNotMatch(errors.text(), /"level":"error"/, errors.text());
});

Deno.test("main - an unreachable database is one line on stderr and exit 1", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "infernet-serve-" });
  try {
    const out = await denoTaskCommand(["serve", "--port", "0"], {
      env: { INFERNET_DATA_DIR: dataDir, DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" },
      stderr: "piped",
    }).output();
    // `deno task` names the task on stderr first; the rest is the server's.
    const stderr = new TextDecoder().decode(out.stderr).replace(/^Task .*\n/, "").trim();
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /^infernet-web: could not start: .*ECONNREFUSED/);
    assert.equal(stderr.split("\n").length, 1, stderr);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
