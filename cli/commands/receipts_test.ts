import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { createLogger } from "../../shared/mod.ts";
import { receiptChain, type ReceiptItem, resignWith } from "../../testing/receipts.ts";
import { runCli } from "../../testing/run_cli.ts";
import { CliError } from "../cli_error.ts";
import { runReceipts } from "./receipts.ts";

const log = createLogger({ level: "silent" });
const nodeKey = generateSecretKey();
const node = getPublicKey(nodeKey);
const platformKey = generateSecretKey();
const platform = getPublicKey(platformKey);

/** Runs the command in-process: what it printed and the exit code main() would return. */
async function run(args: string[]): Promise<{ code: number; lines: string[]; error?: string }> {
  const lines: string[] = [];
  try {
    await runReceipts({ args, env: {}, log, print: (l) => lines.push(l) });
    return { code: 0, lines };
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return { code: err.exitCode, lines, error: err.message };
  }
}

async function withFile<T>(body: string, fn: (path: string) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile({ prefix: "infernet-receipts-", suffix: ".json" });
  try {
    await Deno.writeTextFile(path, body);
    return await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

const page = (items: ReceiptItem[]) => JSON.stringify({ node, receipts: items, next: null });
const chain = (count = 5) => receiptChain({ nodeKey, platformKey, count, unsigned: [1] });

async function verifyItems(items: ReceiptItem[], extra: string[] = ["--platform-key", platform]) {
  return await withFile(page(items), (path) => run(["verify", path, ...extra]));
}

Deno.test("receipts verify - a clean page checks out: exit 0 and a summary", async () => {
  const out = await verifyItems(chain());
  assert.deepEqual(out, { code: 0, lines: ["9 receipts, 0 problems"] });
  const npub = await verifyItems(chain(), ["--platform-key", npubEncode(platform)]);
  assert.equal(npub.code, 0);
});

Deno.test("receipts verify - without a key, says the platform signer is unchecked", async () => {
  const out = await verifyItems(chain(3), []);
  assert.equal(out.code, 0);
  assert.deepEqual(out.lines, [
    `note: platform receipts signed by ${platform}, unchecked against a known key (pass --platform-key)`,
    "5 receipts, 0 problems",
  ]);
});

Deno.test("receipts verify - a tampered receipt is refused by id and the chain shows the hole", async () => {
  const items = chain();
  const tampered: NostrEvent = JSON.parse(JSON.stringify(items[2].receipt));
  tampered.content = tampered.content.replace('"amount":"0.000017"', '"amount":"0.000001"');
  items[2] = { ...items[2], receipt: tampered };
  const out = await verifyItems(items);
  assert.equal(out.code, 1);
  assert.ok(out.lines.includes(`${tampered.id}: platform receipt refused: the id or signature is wrong`));
  assert.ok(
    out.lines.some((l) => l.startsWith(`${items[3].receipt.id}: platform chain gap:`)),
    out.lines.join("\n"),
  );
  assert.match(out.lines.at(-1)!, /^9 receipts, [1-9]\d* problems?$/);
});

Deno.test("receipts verify - a fork: two platform receipts at one seq", async () => {
  const items = chain();
  const twin = resignWith(platformKey, items[2].receipt, (c) => (c.amount = "0.5"));
  const out = await verifyItems([...items, { receipt: twin, node_receipt: null }]);
  assert.equal(out.code, 1);
  assert.deepEqual(out.lines.slice(0, -1), [
    `${twin.id}: platform chain fork: receipts ${items[2].receipt.id} and ${twin.id} both claim seq 3`,
  ]);
  assert.equal(out.lines.at(-1), "10 receipts, 1 problem");
});

Deno.test("receipts verify - reordering: a receipt pointing at a later one, time running backwards", async () => {
  const items = chain();
  const back = resignWith(platformKey, items[2].receipt, (c) => (c.prev = items[3].receipt.id));
  const out = await verifyItems(items.map((it, i) => i === 2 ? { ...it, receipt: back } : it));
  assert.equal(out.code, 1);
  assert.ok(
    out.lines.includes(
      `${back.id}: platform chain reordered: receipt ${back.id} points back at a later receipt ${
        items[3].receipt.id
      }`,
    ),
    out.lines.join("\n"),
  );
  const early = resignWith(platformKey, items[4].receipt, (c) => (c.created_at = 5), { createdAt: 5 });
  const late = await verifyItems(items.map((it, i) => i === 4 ? { ...it, receipt: early } : it));
  assert.ok(
    late.lines.some((l) => l.startsWith(`${early.id}: platform chain reordered:`) && /dated before/.test(l)),
  );
  assert.equal(late.code, 1);
});

Deno.test("receipts verify - a gap in both chains", async () => {
  const items = chain();
  const out = await verifyItems(items.filter((_, i) => i !== 2));
  assert.equal(out.code, 1);
  assert.deepEqual(out.lines.slice(0, -1), [
    `${items[3].receipt.id}: platform chain gap: seq 3–3 missing before receipt ${items[3].receipt.id}`,
    `${items[3].node_receipt!.id}: node chain gap: seq 2–2 missing before receipt ${
      items[3].node_receipt!.id
    }`,
  ]);
});

Deno.test("receipts verify - a platform receipt signed by a foreign key", async () => {
  const items = chain(3);
  const foreign = generateSecretKey();
  const forged = resignWith(
    foreign,
    items[1].receipt,
    (c) => (c.platform_did = `did:nostr:${getPublicKey(foreign)}`),
  );
  const swapped = items.map((it, i) => i === 1 ? { ...it, receipt: forged } : it);
  const out = await verifyItems(swapped);
  assert.equal(out.code, 1);
  assert.ok(
    out.lines.includes(
      `${forged.id}: platform receipt refused: signed by another key than the control plane's`,
    ),
  );
  const unkeyed = await verifyItems(swapped, []);
  assert.equal(unkeyed.code, 1);
  assert.ok(
    unkeyed.lines.some((l) => l.startsWith(`${forged.id}: signed by ${getPublicKey(foreign)}, but other`)),
  );
});

Deno.test("receipts verify - countersignature checks: artifact mismatch, missing or other node receipt", async () => {
  const items = chain(3);
  const mismatch = resignWith(platformKey, items[0].receipt, (c) => (c.artifact_hash = "ab".repeat(32)));
  const first = await verifyItems([{ ...items[0], receipt: mismatch }]);
  assert.deepEqual(first.lines.slice(0, -1), [
    `${mismatch.id}: artifact_hash ${"ab".repeat(32)} differs from the node receipt's ${
      JSON.parse(items[0].node_receipt!.content).artifact_hash
    }`,
  ]);
  const missing = await verifyItems([{ ...items[0], node_receipt: null }]);
  assert.deepEqual(missing.lines.slice(0, -1), [
    `${items[0].receipt.id}: its e tag names node receipt ${
      items[0].node_receipt!.id
    }, which is missing or refused`,
  ]);
  const beside = await verifyItems([{ ...items[0], node_receipt: items[2].node_receipt }]);
  assert.ok(beside.lines.includes(
    `${items[2].node_receipt!.id}: served beside platform receipt ${
      items[0].receipt.id
    }, whose e tag names another`,
  ));
  assert.equal(beside.code, 1);
});

Deno.test("receipts verify - reads JSON lines and arrays of pages; --json reports the same", async () => {
  const items = chain(4);
  const lines = items.flatMap((it) => [it.receipt, ...(it.node_receipt ? [it.node_receipt] : [])])
    .map((e) => JSON.stringify(e)).join("\n") + "\n";
  const out = await withFile(lines, (path) => run(["verify", path, "--platform-key", platform]));
  assert.deepEqual(out, { code: 0, lines: ["7 receipts, 0 problems"] });
  const pages = JSON.stringify([{ receipts: items.slice(0, 2), next: "2" }, {
    receipts: items.slice(2),
    next: null,
  }]);
  const json = await withFile(pages, (path) => run(["verify", path, "--json", "--platform-key", platform]));
  assert.equal(json.code, 0);
  const report = JSON.parse(json.lines[0]);
  assert.deepEqual([report.receipts, report.problems, report.platform_key_checked], [7, [], true]);
});

Deno.test("receipts verify - usage errors exit 2, unreadable input exits 1", async () => {
  assert.equal((await run([])).code, 2);
  assert.equal((await run(["verify"])).code, 2);
  assert.equal((await run(["verify", "a", "b"])).code, 2);
  assert.equal((await run(["verify", "x.json", "--frobnicate"])).code, 2);
  assert.equal((await run(["verify", "x.json", "--platform-key", "npub1nope"])).code, 2);
  assert.equal((await run(["verify", "/nonexistent/receipts.json"])).code, 2);
  const garbage = await withFile('{"hello": 1}', (path) => run(["verify", path]));
  assert.equal(garbage.code, 1);
  assert.match(garbage.error!, /neither a receipts page/);
});

Deno.test("receipts verify - from a URL: follows next to the end and takes the key from /.well-known", async () => {
  const items = chain(7);
  let served = platform;
  const asked: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    asked.push(url.pathname + url.search);
    if (url.pathname === "/.well-known/infernet.json") return Response.json({ platform_pubkey: served });
    if (url.pathname !== "/api/receipts" || url.searchParams.get("node") !== node) {
      return new Response("not found", { status: 404 });
    }
    const after = Number(url.searchParams.get("after") ?? "0");
    const slice = items.slice(after, after + 3);
    const next = after + 3 < items.length ? String(after + 3) : null;
    return Response.json({ node, receipts: slice, next });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}/api/receipts?node=${npubEncode(node)}`;
    const fixedNode = base.replace(npubEncode(node), node);
    const out = await run(["verify", fixedNode]);
    assert.deepEqual(out, { code: 0, lines: ["13 receipts, 0 problems"] });
    assert.deepEqual(
      asked.filter((a) => a.startsWith("/api")).map((a) => new URL(a, "http://x").searchParams.get("after")),
      [
        null,
        "3",
        "6",
      ],
    );
    served = getPublicKey(generateSecretKey());
    const foreign = await run(["verify", fixedNode]);
    assert.equal(foreign.code, 1);
    assert.equal(
      foreign.lines.filter((l) => l.endsWith("signed by another key than the control plane's")).length,
      7,
    );
    const given = await run(["verify", fixedNode, "--platform-key", platform]);
    assert.equal(given.code, 0, "--platform-key wins over /.well-known");
  } finally {
    await server.shutdown();
  }
});

Deno.test("receipts verify - the real command line: exit 0, 1 and 2", async () => {
  const items = chain(2);
  const broken = [{ ...items[0], node_receipt: null }, items[1]];
  await withFile(page(items), async (good) => {
    await withFile(page(broken), async (bad) => {
      const ok = await runCli(["receipts", "verify", good, "--platform-key", platform], {});
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout.trim(), "3 receipts, 0 problems");
      const fail = await runCli(["receipts", "verify", bad, "--platform-key", platform], {});
      assert.equal(fail.code, 1);
      assert.match(fail.stdout, /which is missing or refused\n2 receipts, 1 problem\n$/);
      const usage = await runCli(["receipts", "verify"], {});
      assert.equal(usage.code, 2);
    });
  });
});
