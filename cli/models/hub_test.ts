import assert from "node:assert/strict";
import { CliError } from "../cli_error.ts";
import { hubEndpoint, hubError, parseHubRef, parseRepoListing, resolveUrl } from "./hub.ts";

Deno.test("hub - parses hf:org/repo[:file] and refuses paths that leave the repo", () => {
  assert.deepEqual(parseHubRef("hf:bartowski/Llama-3.2-1B-Instruct-GGUF"), {
    repo: "bartowski/Llama-3.2-1B-Instruct-GGUF",
    file: null,
  });
  assert.deepEqual(parseHubRef("hf:Qwen/Qwen2.5-7B-Instruct-GGUF:q4/a-00001-of-00002.gguf"), {
    repo: "Qwen/Qwen2.5-7B-Instruct-GGUF",
    file: "q4/a-00001-of-00002.gguf",
  });
  assert.equal(parseHubRef("llama3.2:1b"), null);
  for (const bad of ["hf:org", "hf:org/repo/x", "hf:../x", "hf:org/repo:../../etc/passwd", "hf:org/repo:"]) {
    assert.throws(() => parseHubRef(bad), CliError, bad);
  }
});

Deno.test("hub - HF_ENDPOINT overrides the endpoint and file paths are URL-encoded", () => {
  assert.equal(hubEndpoint({}), "https://huggingface.co");
  assert.equal(hubEndpoint({ HF_ENDPOINT: "https://hf-mirror.com/" }), "https://hf-mirror.com");
  assert.equal(
    resolveUrl({ endpoint: "https://huggingface.co" }, "org/repo", "Q4 K/a#b.gguf"),
    "https://huggingface.co/org/repo/resolve/main/Q4%20K/a%23b.gguf",
  );
});

Deno.test("hub - reads sizes and hashes from LFS entries and skips folders", () => {
  const sha = "ab".repeat(32);
  const listing = parseRepoListing("org/repo", [
    { type: "directory", oid: "x", size: 0, path: "Q8_0" },
    {
      type: "file",
      oid: "y",
      size: 135,
      path: "Q8_0/a.gguf",
      lfs: { oid: sha, size: 9_000_000_000, pointerSize: 135 },
    },
    { type: "file", oid: "z", size: 10, path: "README.md" },
  ]);
  assert.deepEqual(listing.files, [
    { path: "Q8_0/a.gguf", size: 9_000_000_000, sha256: sha },
    { path: "README.md", size: 10, sha256: null },
  ]);
  assert.throws(() => parseRepoListing("org/repo", { error: "nope" }), CliError);
});

Deno.test("hub - error headers become errors an operator can act on", async () => {
  const res = (status: number, code?: string) =>
    new Response(null, { status, headers: code ? { "x-error-code": code } : {} });
  assert.match((await hubError(res(401, "GatedRepo"), "meta/x", "f")).message, /gated.*HF_TOKEN/);
  assert.match((await hubError(res(403, "GatedRepo"), "meta/x", "f")).message, /no access yet/);
  assert.match(
    (await hubError(res(401, "RepoNotFound"), "meta/x", "f")).message,
    /not found or not accessible.*HF_TOKEN/,
  );
  assert.equal(
    (await hubError(res(404, "EntryNotFound"), "meta/x", "f.gguf")).message,
    "f.gguf is not in meta/x",
  );
  assert.equal((await hubError(res(503), "meta/x", "f")).code, "hub_error");
});
