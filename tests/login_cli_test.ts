// `infernet login` in-process against a served control plane, with the test playing the browser
// over real HTTP: approved, denied, no terminal, unregistered key, expired while waiting.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { nsecEncode } from "nostr-tools/nip19";
import {
  createLogger,
  createNodeRecord,
  createOperatorClaim,
  sleep,
  verifyNodeRecord,
  verifyOperatorClaim,
} from "../shared/mod.ts";
import { submitClaim } from "../db/mod.ts";
import { verifySessionToken } from "../web/auth/session.ts";
import { sampleAdvert } from "../testing/mod.ts";
import { openTestControlPlane, type TestControlPlane } from "../testing/control_plane.ts";
import { createIdentity, type NodeIdentity } from "../cli/identity/node_key.ts";
import { CliError } from "../cli/cli_error.ts";
import { type LoginDeps, runLogin } from "../cli/commands/login.ts";

interface Env {
  tcp: TestControlPlane;
  url: string;
  home: string;
  identity: NodeIdentity;
}

async function withEnv(fn: (env: Env) => Promise<void>, opts: { register?: boolean } = {}): Promise<void> {
  const tcp = await openTestControlPlane({ serve: true });
  const home = await Deno.makeTempDir({ prefix: "infernet-login-" });
  try {
    const identity = await createIdentity(home);
    if (opts.register ?? true) {
      const result = verifyNodeRecord(createNodeRecord(identity.secretKey, sampleAdvert()));
      assert.ok(result.ok);
      await tcp.cp.registry.register(result.record);
    }
    await fn({ tcp, url: tcp.server!.url, home, identity });
  } finally {
    await tcp.close();
    await Deno.remove(home, { recursive: true });
  }
}

/** Starts `infernet login` in-process; `lines` fills as it prints. */
function startLogin(env: Env, args: string[], deps: LoginDeps = {}) {
  const lines: string[] = [];
  const done = runLogin({
    args: ["--server", env.url, ...args],
    env: { INFERNET_HOME: env.home },
    log: createLogger({ level: "silent" }),
    print: (l) => lines.push(l),
  }, { sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))), ...deps });
  return { lines, done: done.then(() => null, (err) => err as Error) };
}

async function until<T>(what: string, get: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = get();
    if (v !== undefined) return v;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The browser: enters the code the CLI printed, returns its login cookie. */
async function browserEnters(env: Env, lines: string[]): Promise<string> {
  const code = await until(
    "the code",
    () => lines.join("\n").match(/enter the code ([A-Z]{4}-[A-Z]{4})/)?.[1],
  );
  const res = await fetch(`${env.url}/login/device`, {
    method: "POST",
    redirect: "manual",
    headers: {
      origin: env.url,
      "content-type": "application/x-www-form-urlencoded",
      "user-agent": "CliTest/2",
    },
    body: new URLSearchParams({ code }),
  });
  await res.body?.cancel();
  assert.equal(res.status, 303);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("infernet_login="));
  assert.ok(cookie);
  return cookie.split(";")[0];
}

async function browserChecks(env: Env, cookie: string) {
  const res = await fetch(`${env.url}/login/device/wait`, { redirect: "manual", headers: { cookie } });
  await res.body?.cancel();
  const session = res.headers.getSetCookie().find((c) => c.startsWith("infernet_session="));
  return { status: res.status, location: res.headers.get("location"), session };
}

Deno.test("infernet login - shows the code, shows the browser, approves with --yes, and the browser is signed in", async () => {
  await withEnv(async (env) => {
    const cli = startLogin(env, ["--yes"]);
    const cookie = await browserEnters(env, cli.lines);
    assert.equal(await cli.done, null);
    const out = cli.lines.join("\n");
    assert.match(out, new RegExp(`open ${env.url}/login/device\\?code=[A-Z]{4}-[A-Z]{4}`));
    assert.match(out, /a browser entered the code: 127\.0\.0\.1 \(CliTest\/2\) at \d{4}-/);
    assert.match(out, /approved/);
    const landed = await browserChecks(env, cookie);
    assert.equal(landed.status, 303);
    assert.equal(landed.location, "/operator");
    assert.match(landed.session!, /HttpOnly/i);
  });
});

Deno.test("infernet login --json - prints one JSON object per step, never the device code", async () => {
  await withEnv(async (env) => {
    const cli = startLogin(env, ["--yes", "--json"]);
    const code = await until("the start", () => cli.lines[0]);
    const start = JSON.parse(code);
    assert.equal(start.event, "started");
    assert.equal(start.device_code, undefined);
    cli.lines.push(`enter the code ${start.user_code}`);
    await browserEnters(env, cli.lines);
    assert.equal(await cli.done, null);
    assert.deepEqual(cli.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).event), [
      "started",
      "claimed",
      "approved",
    ]);
  });
});

Deno.test("infernet login - answering no denies the browser; no terminal and no --yes refuses", async () => {
  await withEnv(async (env) => {
    const questions: string[] = [];
    const cli = startLogin(env, [], {
      isTerminal: true,
      confirm: (q) => {
        questions.push(q);
        return false;
      },
    });
    const cookie = await browserEnters(env, cli.lines);
    const err = await cli.done;
    assert.ok(err instanceof CliError && err.code === "login_denied", String(err));
    assert.deepEqual(questions, ["Approve this browser? [y/N]"]);
    assert.equal((await browserChecks(env, cookie)).status, 403);

    const headless = startLogin(env, [], { isTerminal: false });
    const cookie2 = await browserEnters(env, headless.lines);
    const err2 = await headless.done;
    assert.ok(err2 instanceof CliError && err2.code === "usage", String(err2));
    assert.match(err2.message, /pass --yes/);
    const page = await browserChecks(env, cookie2);
    assert.equal(page.status, 403);
    assert.equal(page.session, undefined);
  });
});

Deno.test("infernet login - an unregistered node key is refused with a clear message", async () => {
  await withEnv(async (env) => {
    const err = await startLogin(env, ["--yes"]).done;
    assert.ok(err instanceof CliError, String(err));
    assert.match(err.message, /not registered here; run 'infernet register' first/);
  }, { register: false });
});

Deno.test("infernet login - a code that expires while waiting ends with a one-line error", async () => {
  await withEnv(async (env) => {
    const cli = startLogin(env, ["--yes"]);
    await until("the code", () => cli.lines.find((l) => l.includes("enter the code")));
    for await (const entry of env.tcp.cp.kv.list<{ expiresAtMs: number }>({ prefix: ["login_device"] })) {
      await env.tcp.cp.kv.set(entry.key, { ...entry.value, expiresAtMs: Date.now() - 1 });
    }
    const err = await cli.done;
    assert.ok(err instanceof CliError && err.code === "login_expired", String(err));
    assert.equal(err.exitCode, 1);
  });
});

Deno.test("infernet login --key - an operator key a node has claimed signs the browser in as the operator", async () => {
  await withEnv(async (env) => {
    const op = generateSecretKey();
    const keyFile = `${env.home}/operator.key`;
    await Deno.writeTextFile(keyFile, nsecEncode(op) + "\n", { mode: 0o600 });
    const claim = verifyOperatorClaim(createOperatorClaim(env.identity.secretKey, getPublicKey(op)));
    assert.ok(claim.ok);
    await submitClaim(env.tcp.cp.db.sql, claim.value);
    const cli = startLogin(env, ["--yes", "--key", keyFile]);
    const cookie = await browserEnters(env, cli.lines);
    assert.equal(await cli.done, null);
    const landed = await browserChecks(env, cookie);
    assert.equal(landed.status, 303);
    const token = /infernet_session=([^;]+)/.exec(landed.session!)![1];
    const session = await verifySessionToken(env.tcp.cp, token);
    assert.deepEqual([session?.pubkey, session?.role], [getPublicKey(op), "operator"]);

    const missing = startLogin(env, ["--yes", "--key", `${env.home}/nope.key`]);
    const err = await missing.done;
    assert.ok(err instanceof CliError && err.code === "no_identity", String(err));
  });
});
