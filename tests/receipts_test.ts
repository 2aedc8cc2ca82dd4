// End to end: the official `openai` SDK → control plane → a real `infernet start` daemon → test
// engine; every job's receipt is signed by the node, countersigned by the control plane, served
// publicly, and checks out with nothing but the two public keys.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { runCli, startNetwork, type TestNetwork } from "../testing/network.ts";
import {
  artifactHash,
  checkChain,
  sleep,
  type VerifiedNodeReceipt,
  type VerifiedPlatformReceipt,
  verifyNodeReceipt,
  verifyPlatformReceipt,
} from "../shared/mod.ts";

async function withNetwork(fn: (net: TestNetwork) => Promise<void>): Promise<void> {
  const net = await startNetwork({ config: { receiptWaitMs: 2000 } });
  try {
    await fn(net);
  } catch (err) {
    for (const n of net.nodes) console.error(`--- node stderr ---\n${n.stderr()}`);
    throw err;
  } finally {
    await net.close();
  }
}

interface Served {
  receipt: VerifiedPlatformReceipt;
  node: VerifiedNodeReceipt | null;
}

/** Fetches a job's receipts (written within moments of its end) and verifies both events. */
async function receiptOf(net: TestNetwork, jobId: string, platformPubkey: string): Promise<Served> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${net.url}/api/receipts/${jobId}`);
    if (res.status === 404) {
      await res.body?.cancel();
      await sleep(50);
      continue;
    }
    const body = await res.json();
    assert.equal(body.receipts.length, 1);
    const p = verifyPlatformReceipt(body.receipts[0].receipt, platformPubkey);
    assert.ok(p.ok, p.ok ? "" : p.reason);
    const raw = body.receipts[0].node_receipt;
    const n = raw === null ? null : verifyNodeReceipt(raw);
    if (n) assert.ok(n.ok, n.ok ? "" : n.reason);
    return { receipt: p.value, node: n?.ok ? n.value : null };
  }
  throw new Error(`no receipt for ${jobId} within 5 s`);
}

Deno.test("e2e receipts - chat (streamed and not) and embeddings are receipted by node and platform", async () => {
  await withNetwork(async (net) => {
    const wellKnown = await (await fetch(`${net.url}/.well-known/infernet.json`)).json();
    const nip05 = await (await fetch(`${net.url}/.well-known/nostr.json?name=_`)).json();
    assert.equal(nip05.names._, wellKnown.platform_pubkey);
    const openai = new OpenAI({ baseURL: `${net.url}/v1`, apiKey: net.apiKey, maxRetries: 0 });
    const nodePubkey = net.nodes[0].pubkey;

    const { data: answer, response } = await openai.chat.completions.create({
      model: "infernet-test-echo",
      messages: [{ role: "user", content: "receipt me" }],
    }).withResponse();
    const first = await receiptOf(net, response.headers.get("x-infernet-job-id")!, wellKnown.platform_pubkey);
    const text = answer.choices[0].message.content!;
    assert.equal(first.receipt.content.outcome, "success");
    assert.equal(first.receipt.content.signed, true);
    assert.equal(first.receipt.content.agent_did, `did:nostr:${nodePubkey}`);
    assert.equal(first.receipt.content.artifact_hash, artifactHash([text]));
    assert.equal(first.node!.content.artifact_hash, artifactHash([text]));
    assert.equal(first.receipt.content.node_receipt, first.node!.event.id);
    assert.deepEqual(first.receipt.content.usage.billed, {
      prompt_tokens: answer.usage!.prompt_tokens,
      completion_tokens: answer.usage!.completion_tokens,
    });
    assert.notEqual(first.receipt.content.amount, "0");

    const stream = await openai.chat.completions.create({
      model: "infernet-test-echo",
      messages: [{ role: "user", content: "stream a receipt" }],
      stream: true,
    }).withResponse();
    let streamed = "";
    for await (const chunk of stream.data) streamed += chunk.choices[0]?.delta?.content ?? "";
    const second = await receiptOf(
      net,
      stream.response.headers.get("x-infernet-job-id")!,
      wellKnown.platform_pubkey,
    );
    assert.equal(second.receipt.content.artifact_hash, artifactHash([streamed]));
    assert.equal(second.node!.content.artifact_hash, artifactHash([streamed]));

    const emb = await openai.embeddings.create({ model: "infernet-test-echo", input: ["a", "b"] })
      .withResponse();
    const third = await receiptOf(
      net,
      emb.response.headers.get("x-infernet-job-id")!,
      wellKnown.platform_pubkey,
    );
    assert.equal(third.receipt.content.category, "inference:embeddings");
    assert.equal(third.receipt.content.artifact_hash, third.node!.content.artifact_hash);

    // The node's receipts, page by page, chain on both sides with no problem.
    const items = [];
    let after = "0";
    for (let page = 0; page < 10 && after !== null; page++) {
      const res = await (await fetch(`${net.url}/api/receipts?node=${nodePubkey}&after=${after}&limit=2`))
        .json();
      items.push(...res.receipts);
      after = res.next;
    }
    assert.equal(items.length, 3);
    const platform = items.map((i) => verifyPlatformReceipt(i.receipt, wellKnown.platform_pubkey));
    const node = items.map((i) => verifyNodeReceipt(i.node_receipt));
    const link = (
      r: { event: { id: string }; content: { seq: number; prev: string | null; created_at: number } },
    ) => ({
      id: r.event.id,
      seq: r.content.seq,
      prev: r.content.prev,
      createdAt: r.content.created_at,
    });
    assert.deepEqual(checkChain(platform.map((p) => link(p.ok ? p.value : assert.fail()))), []);
    assert.deepEqual(checkChain(node.map((n) => link(n.ok ? n.value : assert.fail()))), []);
    assert.deepEqual(platform.map((p) => p.ok && p.value.content.seq), [1, 2, 3]);

    // `infernet receipts verify` agrees, trusting nothing but the keys; a tampered copy fails.
    const ok = await runCli(["receipts", "verify", `${net.url}/api/receipts?node=${nodePubkey}`], {});
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /6 receipts, 0 problems/);
    const dir = await Deno.makeTempDir();
    try {
      const tampered = items.map((i) => ({ ...i, node_receipt: { ...i.node_receipt } }));
      tampered[1].node_receipt.content = tampered[1].node_receipt.content.replace('"success"', '"failure"');
      await Deno.writeTextFile(`${dir}/r.json`, JSON.stringify({ receipts: tampered, next: null }));
      const no = await runCli([
        "receipts",
        "verify",
        `${dir}/r.json`,
        "--platform-key",
        wellKnown.platform_npub,
      ], {});
      assert.equal(no.code, 1);
      assert.match(no.stdout, /signature/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }

    const bad = await fetch(`${net.url}/api/receipts?node=nope`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.param, "node");
    for (const [query, param] of [["limit=0", "limit"], ["limit=501", "limit"], ["after=x", "after"]]) {
      const res = await fetch(`${net.url}/api/receipts?node=${nodePubkey}&${query}`);
      const error = (await res.json()).error;
      assert.deepEqual([res.status, error.param], [400, param], query);
      assert.match(error.message, param === "limit" ? /from 1 to 500/ : /from 0 to/, query);
    }
    const missing = await fetch(`${net.url}/api/receipts/job_doesnotexist`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "receipt_not_found");
  });
});

Deno.test("e2e receipts - jobs that end together are all countersigned as signed, in chain order", async () => {
  await withNetwork(async (net) => {
    const wellKnown = await (await fetch(`${net.url}/.well-known/infernet.json`)).json();
    const openai = new OpenAI({ baseURL: `${net.url}/v1`, apiKey: net.apiKey, maxRetries: 0 });
    // Ending within the daemon's linger, their receipts share `receipts` frames: more of them than
    // one turn signs (the node's 16 slots hold them all), so they go out four a turn, in chain order.
    const answers = await Promise.all(
      Array.from({ length: 14 }, (_, i) =>
        openai.chat.completions.create({
          model: "infernet-test-echo",
          messages: [{ role: "user", content: `together ${i}` }],
        }).withResponse()),
    );
    const served = [];
    for (const { data, response } of answers) {
      const r = await receiptOf(net, response.headers.get("x-infernet-job-id")!, wellKnown.platform_pubkey);
      assert.equal(r.receipt.content.signed, true);
      assert.equal(r.node!.content.artifact_hash, artifactHash([data.choices[0].message.content!]));
      served.push(r);
    }
    const link = (r: VerifiedNodeReceipt | VerifiedPlatformReceipt) => ({
      id: r.event.id,
      seq: r.content.seq,
      prev: r.content.prev,
      createdAt: r.content.created_at,
    });
    const bySeq = <T extends VerifiedNodeReceipt | VerifiedPlatformReceipt>(xs: T[]) =>
      [...xs].sort((a, b) => a.content.seq - b.content.seq);
    assert.deepEqual(checkChain(bySeq(served.map((s) => s.node!)).map(link)), []);
    assert.deepEqual(checkChain(bySeq(served.map((s) => s.receipt)).map(link)), []);
    assert.deepEqual(
      bySeq(served.map((s) => s.node!)).map((n) => n.content.seq),
      [...Array(14).keys()].map((i) => i + 1),
    );
  });
});
