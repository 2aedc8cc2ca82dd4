// `infernet model …` as an operator runs it (`deno task infernet`, its own permissions), against
// the fake hub and a tiny fake Ollama.
import assert from "node:assert/strict";
import { type FakeHub, type FakeHubOptions, startFakeHub } from "../../testing/fake_hub.ts";
import { runCli } from "../../testing/run_cli.ts";

const REPO = "acme/tiny-GGUF";
const Q8 = "tiny-Q8_0.gguf";

async function withHub(opts: FakeHubOptions, fn: (hub: FakeHub, home: string) => Promise<void>) {
  const home = await Deno.makeTempDir({ prefix: "infernet-model-" });
  const hub = await startFakeHub(opts);
  try {
    await fn(hub, home);
  } finally {
    await hub.close();
    await Deno.remove(home, { recursive: true });
  }
}

const tinyRepo = (extra: Partial<FakeHubOptions["repos"][0]["files"][0]> = {}) => ({
  id: REPO,
  files: [
    { path: Q8, size: 600_000, ...extra },
    { path: "tiny-Q4_K_M.gguf", size: 300_000 },
    { path: "README.md", size: 100 },
  ],
});

// HF_TOKEN is set (empty) so a token in the test runner's environment never leaks in.
const envOf = (hub: FakeHub, home: string, token = "") => ({
  INFERNET_HOME: home,
  HF_ENDPOINT: hub.url,
  HF_TOKEN: token,
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch(() => [] as Deno.DirEntry[]);
  for (const e of entries) {
    if (e.isDirectory) out.push(...(await filesUnder(`${dir}/${e.name}`)).map((p) => `${e.name}/${p}`));
    else out.push(e.name);
  }
  return out.sort();
}

Deno.test("model - pull picks the best quant that fits, verifies it, and list, info and remove see it", async () => {
  await withHub({ repos: [tinyRepo()], redirect: true }, async (hub, home) => {
    const env = envOf(hub, home);
    const pull = await runCli(["model", "pull", `hf:${REPO}`, "--vram-mb", "8192", "--json"], env);
    assert.equal(pull.code, 0, pull.stderr);
    const result = JSON.parse(pull.stdout);
    assert.equal(result.quant, "Q8_0");
    assert.equal(result.picked_by, "memory");
    const path = `${home}/models/${REPO}/${Q8}`;
    assert.deepEqual(result.files.map((f: { path: string; sha256: string }) => [f.path, f.sha256]), [
      [path, hub.sha256(REPO, Q8)],
    ]);
    assert.deepEqual(await Deno.readFile(path), hub.bytes(REPO, Q8));
    assert.deepEqual(await filesUnder(`${home}/models`), [
      `acme/tiny-GGUF/${Q8}`,
      `acme/tiny-GGUF/${Q8}.infernet.json`,
    ]);

    const again = await runCli(["model", "pull", `hf:${REPO}:${Q8}`, "--json"], env);
    assert.equal(
      JSON.parse(again.stdout).files[0].already_present,
      true,
      "a verified file is not downloaded twice",
    );

    const list = JSON.parse((await runCli(["model", "list", "--json"], env)).stdout);
    assert.deepEqual(
      list.models.map((m: { ref: string; sha256: string; bytes: number }) => [m.ref, m.sha256, m.bytes]),
      [
        [`hf:${REPO}:${Q8}`, hub.sha256(REPO, Q8), 600_000],
      ],
    );
    const info = await runCli(["model", "info", `hf:${REPO}:${Q8}`], env);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, new RegExp(`sha256:  ${hub.sha256(REPO, Q8)}`));
    assert.match(info.stdout, /quant: {3}Q8_0/);

    const removed = await runCli(["model", "remove", `${REPO}/${Q8}`], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`removed ${path}`));
    assert.deepEqual(await filesUnder(`${home}/models`), []);
    const unknown = await runCli(["model", "remove", `${REPO}/${Q8}`], env);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr.trim().split("\n").length, 1);
    assert.match(unknown.stderr, /no model named/);
  });
});

Deno.test("model - a dropped download resumes with Range on the next run and ends with the right sha256", async () => {
  await withHub({ repos: [tinyRepo({ dropAfterBytes: 250_000 })], redirect: true }, async (hub, home) => {
    const env = envOf(hub, home);
    const args = ["model", "pull", `hf:${REPO}:${Q8}`, "--retries", "0", "--json"];
    const first = await runCli(args, env);
    assert.equal(first.code, 1);
    assert.match(first.stderr, /connection was lost.*run the same command again to resume/);
    const partBytes = (await Deno.stat(`${home}/models/${REPO}/${Q8}.part`)).size;
    assert.ok(partBytes > 0 && partBytes <= 250_000, `part has ${partBytes} bytes`);

    const second = await runCli(args, env);
    assert.equal(second.code, 0, second.stderr);
    const file = JSON.parse(second.stdout).files[0];
    assert.equal(file.resumed_from_bytes, partBytes);
    assert.equal(file.sha256, hub.sha256(REPO, Q8));
    const ranges = hub.requests.filter((r) => r.path.startsWith("/cdn/")).map((r) => r.range);
    assert.deepEqual(ranges, [null, `bytes=${partBytes}-`]);
    assert.deepEqual(await Deno.readFile(`${home}/models/${REPO}/${Q8}`), hub.bytes(REPO, Q8));
  });
});

Deno.test("model - a server that answers a Range with 200 restarts the part and still verifies", async () => {
  await withHub({ repos: [tinyRepo({ dropAfterBytes: 250_000 })], ignoreRange: true }, async (hub, home) => {
    const env = envOf(hub, home);
    const args = ["model", "pull", `hf:${REPO}:${Q8}`, "--retries", "0", "--json"];
    assert.equal((await runCli(args, env)).code, 1);
    const second = await runCli(args, env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).files[0].sha256, hub.sha256(REPO, Q8));
    assert.ok(hub.requests.some((r) => r.range?.startsWith("bytes=")), "a Range was asked for");
  });
});

Deno.test("model - a hash mismatch is an error and leaves no file behind", async () => {
  await withHub({ repos: [tinyRepo({ wrongHash: true })] }, async (hub, home) => {
    const run = await runCli(["model", "pull", `hf:${REPO}:${Q8}`], envOf(hub, home));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /sha256 mismatch for tiny-Q8_0\.gguf.*deleted the partial file/);
    assert.deepEqual(await filesUnder(`${home}/models`), []);
  });
});

Deno.test("model - a gated repo without HF_TOKEN says to set it, and pulls with one", async () => {
  const gated = { id: "meta/gated-GGUF", gated: true, files: [{ path: "g-Q4_K_M.gguf", size: 50_000 }] };
  await withHub({ repos: [gated], tokens: ["hf_good"] }, async (hub, home) => {
    const anon = await runCli(["model", "pull", "hf:meta/gated-GGUF", "--vram-mb", "8192"], envOf(hub, home));
    assert.equal(anon.code, 1);
    assert.equal(anon.stderr.trim().split("\n").length, 1, anon.stderr);
    assert.match(anon.stderr, /gated.*HF_TOKEN/);
    const ok = await runCli(
      ["model", "pull", "hf:meta/gated-GGUF", "--vram-mb", "8192"],
      envOf(hub, home, "hf_good"),
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /pulled hf:meta\/gated-GGUF Q4_K_M/);
    assert.match(ok.stderr, /g-Q4_K_M\.gguf {2}done 50\.0 KB/, "the bar's final line");
    assert.ok(hub.requests.some((r) => r.authorization === "Bearer hf_good"));
  });
});

Deno.test("model - unknown repos and files, and nothing that fits, are one-line errors", async () => {
  await withHub({ repos: [tinyRepo()] }, async (hub, home) => {
    const env = envOf(hub, home);
    const missing = await runCli(["model", "pull", "hf:nobody/nothing"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nobody\/nothing: not found or not accessible/);
    const noFile = await runCli(["model", "pull", `hf:${REPO}:nope.gguf`], env);
    assert.match(noFile.stderr, /nope\.gguf is not in acme\/tiny-GGUF/);
    const tooBig = await runCli(["model", "pull", `hf:${REPO}`, "--vram-mb", "0", "--ram-mb", "2048"], env);
    assert.equal(tooBig.code, 1);
    assert.match(tooBig.stderr, /no quant of acme\/tiny-GGUF fits .* RAM \(no GPU found\)/);
    const bad = await runCli(["model", "pull", "hf:not a repo"], env);
    assert.equal(bad.code, 2);
    for (const r of [missing, noFile, tooBig, bad]) {
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});

Deno.test("model - info on an hf: name lists the repo's quants and marks the pick", async () => {
  await withHub({ repos: [tinyRepo()] }, async (hub, home) => {
    const info = await runCli(
      ["model", "info", `hf:${REPO}`, "--vram-mb", "8192", "--json"],
      envOf(hub, home),
    );
    assert.equal(info.code, 0, info.stderr);
    const body = JSON.parse(info.stdout);
    assert.equal(body.pick, Q8);
    assert.deepEqual(body.variants.map((v: { quant: string }) => v.quant), ["Q8_0", "Q4_K_M"]);
  });
});

Deno.test("model - recommend lists curated models that fit, with approximate sizes", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-model-" });
  try {
    const run = await runCli(["model", "recommend", "--vram-mb", "24576", "--ram-mb", "65536", "--json"], {
      INFERNET_HOME: home,
    });
    assert.equal(run.code, 0, run.stderr);
    const body = JSON.parse(run.stdout);
    assert.equal(body.sizes_are_approximate, true);
    assert.equal(body.models[0].repo, "bartowski/Qwen2.5-32B-Instruct-GGUF");
    assert.equal(body.models[0].quant, "Q4_K_M");
    assert.ok(!body.models.some((m: { repo: string }) => m.repo.includes("70B")));
    const text = await runCli(["model", "recommend", "--vram-mb", "8192", "--ram-mb", "65536"], {
      INFERNET_HOME: home,
    });
    assert.match(text.stdout, /infernet model pull hf:bartowski\/Meta-Llama-3\.1-8B-Instruct-GGUF:/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

// A tiny Ollama: /api/tags, a streamed /api/pull of two layers, and /api/delete.
function startFakeOllama() {
  const seen: { path: string; body: unknown }[] = [];
  const layers = [["sha256:aaa", 3000], ["sha256:bbb", 1000]] as const;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const body = req.method === "GET" ? null : await req.json();
    seen.push({ path, body });
    if (path === "/api/tags") return Response.json({ models: [{ name: "llama3.2:1b", size: 4000 }] });
    if (path === "/api/delete") {
      return new Response(null, { status: body.model === "llama3.2:1b" ? 200 : 404 });
    }
    if (path !== "/api/pull") return new Response("404 page not found", { status: 404 });
    if (body.model !== "llama3.2:1b") {
      return Response.json({ error: "pull model manifest: file does not exist" });
    }
    const lines = [{ status: "pulling manifest" }];
    for (const [digest, total] of layers) {
      for (const completed of [0, total / 2, total]) {
        lines.push({ status: `pulling ${digest.slice(7)}`, digest, total, completed } as never);
      }
    }
    lines.push({ status: "verifying sha256 digest" }, { status: "writing manifest" }, { status: "success" });
    return new Response(lines.map((l) => JSON.stringify(l) + "\n").join(""), {
      headers: { "content-type": "application/x-ndjson" },
    });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

Deno.test("model - with Ollama as the engine, pull and remove go through Ollama's own API", async () => {
  const home = await Deno.makeTempDir({ prefix: "infernet-model-" });
  const ollama = startFakeOllama();
  try {
    await Deno.writeTextFile(`${home}/config.json`, JSON.stringify({ engine_url: ollama.url }));
    const env = { INFERNET_HOME: home };
    const pull = await runCli(["model", "pull", "llama3.2:1b"], env);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /pulled llama3\.2:1b into Ollama/);
    assert.match(pull.stderr, /llama3\.2:1b {2}done 4\.00 KB in /);
    assert.deepEqual(ollama.seen.find((s) => s.path === "/api/pull")?.body, {
      model: "llama3.2:1b",
      stream: true,
    });
    const bad = await runCli(["model", "pull", "nope:latest"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Ollama could not pull nope:latest: pull model manifest: file does not exist/);
    const list = JSON.parse((await runCli(["model", "list", "--json"], env)).stdout);
    assert.deepEqual(list.engine, { kind: "ollama", url: ollama.url, models: ["llama3.2:1b"] });
    const removed = await runCli(["model", "remove", "llama3.2:1b"], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /removed llama3\.2:1b from Ollama/);
  } finally {
    await ollama.close();
    await Deno.remove(home, { recursive: true });
  }
});
