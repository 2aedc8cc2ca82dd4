import assert from "node:assert/strict";
import { createFakeHubHandler, type FakeHubFileSpec } from "../../testing/fake_hub.ts";
import { CliError } from "../cli_error.ts";
import { downloadFile } from "./download.ts";
import { pullFromHub, type PullReporter } from "./pull.ts";

const REPO = "acme/tiny-GGUF";
const FILE = "tiny-Q4_K_M.gguf";

async function setup(file: Partial<FakeHubFileSpec> = {}) {
  const hub = await createFakeHubHandler({
    repos: [{ id: REPO, files: [{ path: FILE, size: 400_000, ...file }] }],
  });
  const fetchFn: typeof fetch = (input, init) => hub.handler(new Request(input, init));
  const dir = await Deno.makeTempDir({ prefix: "infernet-download-" });
  return { hub, fetchFn, dir, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("download - retries a cut connection within one run, resuming with Range", async () => {
  const { hub, fetchFn, dir, cleanup } = await setup({ dropAfterBytes: 150_000 });
  try {
    const result = await downloadFile({
      url: `http://hub/${REPO}/resolve/main/${FILE}`,
      dest: `${dir}/${FILE}`,
      expectedSize: 400_000,
      expectedSha256: hub.sha256(REPO, FILE),
      fetch: fetchFn,
      retries: 1,
      retryDelayMs: 0,
    });
    assert.equal(result.sha256, hub.sha256(REPO, FILE));
    assert.equal(result.resumedFromBytes, 0);
    assert.deepEqual(hub.requests.map((r) => r.range), [null, "bytes=150000-"]);
    assert.deepEqual(await Deno.readFile(`${dir}/${FILE}`), hub.bytes(REPO, FILE));
  } finally {
    await cleanup();
  }
});

Deno.test("download - an interrupt keeps the part and says how to resume", async () => {
  const { hub, fetchFn, dir, cleanup } = await setup();
  try {
    const ctrl = new AbortController();
    const err = await downloadFile({
      url: `http://hub/${REPO}/resolve/main/${FILE}`,
      dest: `${dir}/${FILE}`,
      expectedSize: 400_000,
      expectedSha256: hub.sha256(REPO, FILE),
      fetch: fetchFn,
      signal: ctrl.signal,
      onProgress: (p) => p.doneBytes > 0 && ctrl.abort(),
    }).catch((e) => e);
    assert.ok(err instanceof CliError, String(err));
    assert.equal(err.code, "interrupted");
    assert.equal(err.exitCode, 130);
    assert.match(err.message, /run again to resume/);
    assert.ok((await Deno.stat(`${dir}/${FILE}.part`)).size > 0);
  } finally {
    await cleanup();
  }
});

Deno.test("pull - checks free disk space before downloading, and warns when it cannot tell", async () => {
  const { hub, fetchFn, dir, cleanup } = await setup();
  try {
    const warnings: string[] = [];
    const reporter: PullReporter = {
      start: () => ({ update() {}, finish() {} }),
      warn: (m) => warnings.push(m),
    };
    const base = {
      home: dir,
      hub: { endpoint: "http://hub", fetch: fetchFn },
      ref: { repo: REPO, file: null },
      memory: { vramMb: 8192, ramMb: 16384 },
      reporter,
    };
    const full = await pullFromHub({ ...base, diskSpace: { freeBytes: () => Promise.resolve(100_000_000) } })
      .catch((e) => e);
    assert.ok(full instanceof CliError);
    assert.equal(full.code, "disk_full");
    assert.match(full.message, /needs 400 KB .* 100 MB is free/);
    assert.equal(hub.requests.filter((r) => r.path.includes("/resolve/")).length, 0, "nothing downloaded");
    const unknown = await pullFromHub({ ...base, diskSpace: { freeBytes: () => Promise.resolve(null) } });
    assert.equal(unknown.files[0].sha256, hub.sha256(REPO, FILE));
    assert.match(warnings.join("\n"), /cannot check free disk space/);
  } finally {
    await cleanup();
  }
});
