// install.sh in a temporary HOME: from this checkout (Deno on PATH, or Deno from npm), from a
// published binary (a local HTTP server and a file:// URL stand in for the release site), run
// twice to show it is idempotent, and the error when nothing usable is there.
import assert from "node:assert/strict";
import { CLI_VERSION } from "../cli/version.ts";

const SCRIPT = new URL("../install.sh", import.meta.url).pathname;
const TOOLS = [
  "sh",
  "uname",
  "mkdir",
  "mktemp",
  "rm",
  "cp",
  "mv",
  "chmod",
  "cmp",
  "cat",
  "sed",
  "grep",
  "head",
  "cut",
  "dirname",
  "env",
  "curl",
];

/** A folder of symlinks to just the given programs, to build a PATH without deno or npm. */
async function toolDir(root: string, names: string[]): Promise<string> {
  const dir = `${root}/tools`;
  await Deno.mkdir(dir, { recursive: true });
  for (const name of names) {
    const which = await new Deno.Command("sh", { args: ["-c", `command -v ${name}`] }).output();
    const path = new TextDecoder().decode(which.stdout).trim();
    if (path) await Deno.symlink(path, `${dir}/${name}`).catch(() => {});
  }
  return dir;
}

async function sh(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command("sh", { args, env, clearEnv: true, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function withHome(fn: (home: string) => Promise<void>) {
  const home = await Deno.makeTempDir({ prefix: "infernet-install-" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

async function installTwice(home: string, env: Record<string, string>, version: string) {
  const first = await sh([SCRIPT], { HOME: home, ...env });
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.match(first.stdout, /installed: infernet/);
  const bin = `${home}/.local/bin`;
  for (const name of ["infernet", "inferneta"]) {
    const run = await sh([`${bin}/${name}`, "--version"], {
      HOME: home,
      PATH: env.PATH,
      INFERNET_HOME: `${home}/node`,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), version);
  }
  const before = (await Deno.stat(`${bin}/infernet`)).mtime?.getTime();
  const second = await sh([SCRIPT], { HOME: home, ...env });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /already installed: .* nothing changed/);
  assert.equal((await Deno.stat(`${bin}/infernet`)).mtime?.getTime(), before, "launcher untouched");
}

Deno.test("install.sh - from this checkout with Deno on PATH, twice", async () => {
  await withHome(async (home) => {
    const tools = await toolDir(home, [...TOOLS, "deno"]);
    await installTwice(home, { PATH: tools, INFERNET_BINARY_URL: "none" }, CLI_VERSION);
  });
});

Deno.test("install.sh - a published binary over HTTP or file://, for this OS and CPU", async () => {
  const fake = `#!/bin/sh\necho 9.9.9-fake\n`;
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    return /^\/infernet-(linux|darwin)-(x64|arm64)$/.test(path)
      ? new Response(fake)
      : new Response("not found", { status: 404 });
  });
  try {
    await withHome(async (home) => {
      const tools = await toolDir(home, TOOLS);
      const url = `http://127.0.0.1:${server.addr.port}/infernet-{platform}`;
      await installTwice(home, { PATH: tools, INFERNET_BINARY_URL: url }, "9.9.9-fake");
      const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
      assert.equal(seen[0], `/infernet-${Deno.build.os}-${arch}`);
    });
    await withHome(async (home) => {
      const tools = await toolDir(home, TOOLS);
      await Deno.writeTextFile(`${home}/infernet-bin`, fake);
      await installTwice(
        home,
        { PATH: tools, INFERNET_BINARY_URL: `file://${home}/infernet-bin` },
        "9.9.9-fake",
      );
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("install.sh - no binary, no Deno and no npm: says what to install", async () => {
  await withHome(async (home) => {
    const tools = await toolDir(home, TOOLS);
    const out = await sh([SCRIPT], {
      HOME: home,
      PATH: tools,
      INFERNET_BINARY_URL: `file://${home}/missing`,
    });
    assert.equal(out.code, 1);
    assert.match(out.stderr, /install Node\.js \(which brings npm\) or Deno 2/);
    assert.equal(out.stderr.trim().split("\n").length, 1, "one line");
  });
});

Deno.test({
  name: "install.sh - without Deno on PATH, installs the pinned Deno from npm under the home",
  ignore: Deno.env.get("INFERNET_TEST_NPM_DENO") !== "1",
  fn: async () => {
    await withHome(async (home) => {
      const tools = await toolDir(home, [...TOOLS, "node", "npm"]);
      // npm needs the machine's TLS settings (a proxy's CA, for one); HOME is the temporary one.
      const tls = Object.fromEntries(
        Object.entries(Deno.env.toObject()).filter(([k]) =>
          /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)$/.test(k)
        ),
      );
      await installTwice(home, { PATH: tools, INFERNET_BINARY_URL: "none", ...tls }, CLI_VERSION);
      assert.ok((await Deno.stat(`${home}/.local/share/infernet/deno/bin/deno`)).isFile);
    });
  },
});
