// `infernet reputation` against a real control plane: its GET /api/reputation over its database,
// its /api/receipts and /.well-known/infernet.json, with receipts signed by its own platform key
// and written as the receipt desk writes them. A stand-in in front serves /api/verifications in
// the documented shape (the canaries' endpoint is not on this branch yet), and, to test refusals,
// forged, foreign or thinned lists in place of the real ones.
import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import {
  artifactHash,
  buyerDidOf,
  createLogger,
  createNodeReceipt,
  createPlatformReceipt,
  createVerification,
  type NodeReceiptContent,
  nostrDid,
  type PlatformReceiptContent,
  receiptIdOf,
  reputationReceiptOf,
} from "../shared/mod.ts";
import { openTestControlPlane, type TestControlPlane } from "../testing/control_plane.ts";
import { ensureVerificationsTable, insertVerificationRows } from "../testing/reputation_rows.ts";
import { insertReceipts, type ReceiptRow } from "../db/mod.ts";
import { createApp } from "../web/app.ts";
import { runReputation } from "../cli/commands/reputation.ts";
import { CliError } from "../cli/cli_error.ts";

interface Item {
  receipt: NostrEvent;
  node_receipt: NostrEvent | null;
}

const PAGE = 7;

/** What a run printed, and the CliError it ended with, if any. */
interface Run {
  lines: string[];
  error: unknown;
}

/** Twenty jobs of one node: signed successes, failures, a consumer's cancel, an unsigned one, a lie. */
function history(platformSk: Uint8Array, nodeSk: Uint8Array, now: number) {
  const node = getPublicKey(nodeSk);
  const platform = getPublicKey(platformSk);
  const items: Item[] = [];
  let prev: string | null = null;
  let nodePrev: string | null = null;
  let nodeSeq = 0;
  for (let i = 0; i < 20; i++) {
    const createdAt = now - (20 - i) * 3 * 3600;
    const jobId = `job_${i}`;
    const outcome = i % 7 === 3 ? "failure" : i === 5 ? "timeout" : i === 9 ? "cancelled" : "success";
    const text = `answer ${i}`;
    const signed = i !== 11;
    let nodeEvent: NostrEvent | null = null;
    if (signed) {
      const content: Omit<NodeReceiptContent, "agent_did"> = {
        task_id: jobId,
        category: "inference:chat",
        model: "m",
        outcome,
        artifact_hash: artifactHash([i === 13 ? "something else" : text]),
        usage: { prompt_tokens: 20, completion_tokens: i === 15 ? 400 : 30 },
        ttft_ms: 100 + i,
        duration_ms: 1600 + 10 * i,
        seq: ++nodeSeq,
        prev: nodePrev,
        created_at: createdAt,
      };
      nodeEvent = createNodeReceipt(nodeSk, content);
      nodePrev = nodeEvent.id;
    }
    const receipt = createPlatformReceipt(
      platformSk,
      {
        receipt_id: receiptIdOf(jobId, node),
        task_id: jobId,
        agent_did: nostrDid(node),
        buyer_did: buyerDidOf(platform, "acct_1"),
        category: "inference:chat",
        model: "m",
        amount: "0.000050",
        currency: "USD",
        outcome,
        cancelled_by: i === 9 ? "consumer" : null,
        error_code: outcome === "success" ? null : "node_failed",
        artifact_hash: artifactHash([text]),
        usage: {
          reported: { prompt_tokens: 20, completion_tokens: i === 15 ? 400 : 30 },
          counted: { prompt_tokens: 21, completion_tokens: 31 },
          billed: { prompt_tokens: 21, completion_tokens: 31 },
        },
        ttft_ms: 100 + i,
        duration_ms: 1600 + 10 * i,
        signed,
        node_receipt: nodeEvent?.id ?? null,
        seq: i + 1,
        prev,
        created_at: createdAt,
      } satisfies Omit<PlatformReceiptContent, "platform_did">,
    );
    prev = receipt.id;
    items.push({ receipt, node_receipt: nodeEvent });
  }
  // The last one is stamped now: after the published score's computed_at, so neither side counts it.
  const verifications = [0, 4, 8, 10].map((i) =>
    createVerification(platformSk, {
      task_id: `job_${i}`,
      agent_did: nostrDid(node),
      receipt: items[i].receipt.id,
      check: "canary",
      result: i === 8 ? "fail" : "pass",
      detail: i === 8 ? "token agreement 0.41 < 0.9" : "ok",
      created_at: now - 3600 * (10 - i),
    })
  );
  return { items, verifications };
}

/** What the stand-in serves in place of the control plane (the rest is the control plane's own). */
interface Override {
  /** The node's receipts as listed (default: the control plane's real /api/receipts). */
  items?: Item[];
  /** The node's verifications (/api/verifications is not on this branch yet). */
  verifications: NostrEvent[];
  /** Another key in /.well-known/infernet.json. */
  platformKey?: string;
}

/** The control plane's app on 127.0.0.1, with the stand-in's paths in front. */
function serveHistory(t: TestControlPlane, o: Override): Deno.HttpServer<Deno.NetAddr> {
  const app = createApp(t.cp);
  const page = <T>(list: T[], after: number) => {
    const slice = list.slice(after, after + PAGE);
    return { slice, next: after + PAGE < list.length ? String(after + PAGE) : null };
  };
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    const after = Number(url.searchParams.get("after") ?? 0);
    if (url.pathname === "/.well-known/infernet.json" && o.platformKey) {
      return Response.json({ platform_pubkey: o.platformKey, platform_npub: npubEncode(o.platformKey) });
    }
    if (url.pathname === "/api/receipts" && o.items) {
      const { slice, next } = page(o.items, after);
      return Response.json({ node: url.searchParams.get("node"), receipts: slice, next });
    }
    if (url.pathname === "/api/verifications") {
      const { slice, next } = page(o.verifications, after);
      return Response.json({ verifications: slice, next });
    }
    return app.request(url.pathname + url.search);
  });
}

/** A receipt row as the receipt desk writes it. */
function rowOf(item: Item): ReceiptRow {
  const c: PlatformReceiptContent = JSON.parse(item.receipt.content);
  const n: NodeReceiptContent | null = item.node_receipt ? JSON.parse(item.node_receipt.content) : null;
  const facts = reputationReceiptOf(c, n);
  return {
    receiptId: c.receipt_id,
    jobId: c.task_id,
    nodePubkey: c.agent_did.slice("did:nostr:".length),
    seq: c.seq,
    eventId: item.receipt.id,
    createdAt: c.created_at,
    outcome: c.outcome,
    cancelledBy: c.cancelled_by,
    signed: c.signed,
    meteringDisagrees: facts.meteringDisagrees,
    artifactMismatch: facts.artifactMismatch,
    ttftMs: c.ttft_ms,
    durationMs: c.duration_ms,
    completionTokens: c.usage.billed.completion_tokens,
    event: JSON.stringify(item.receipt),
    nodeSeq: n?.seq ?? null,
    nodeEventId: item.node_receipt?.id ?? null,
    nodeEvent: item.node_receipt ? JSON.stringify(item.node_receipt) : null,
  };
}

async function withNetwork(
  fn: (run: (...args: string[]) => Promise<Run>, ctx: {
    node: string;
    platformSk: Uint8Array;
    items: Item[];
    verifications: NostrEvent[];
    serve(o: Override): Promise<void>;
  }) => Promise<void>,
): Promise<void> {
  const t = await openTestControlPlane({ config: { reputationRefreshMs: 0 } });
  const home = await Deno.makeTempDir({ prefix: "infernet-reputation-" });
  let server: Deno.HttpServer<Deno.NetAddr> | null = null;
  try {
    await t.cp.reputation.refreshAll().catch(() => {});
    await ensureVerificationsTable(t.cp.db.sql);
    const platformSk = t.cp.platformKey.secretKey;
    const nodeSk = generateSecretKey();
    const node = getPublicKey(nodeSk);
    const { items, verifications } = history(platformSk, nodeSk, Math.floor(Date.now() / 1000));
    await insertReceipts(t.cp.db.sql, items.map(rowOf));
    await insertVerificationRows(
      t.cp.db.sql,
      node,
      verifications.map((v) => ({ createdAt: v.created_at, result: JSON.parse(v.content).result })),
    );
    const serve = async (o: Override) => {
      await server?.shutdown();
      server = serveHistory(t, o);
    };
    await serve({ verifications });
    const run = async (...args: string[]): Promise<Run> => {
      const lines: string[] = [];
      try {
        await runReputation({
          args: [...args, "--server", `http://127.0.0.1:${server!.addr.port}`],
          env: { INFERNET_HOME: home },
          log: createLogger({ level: "silent" }),
          print: (l) => lines.push(l),
        });
        return { lines, error: null };
      } catch (error) {
        return { lines, error };
      }
    };
    await fn(run, { node, platformSk, items, verifications, serve });
  } finally {
    await (server as Deno.HttpServer | null)?.shutdown();
    await t.close();
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("infernet reputation - recomputes the control plane's score from the signed events", async () => {
  await withNetwork(async (run, { node }) => {
    const { lines: out, error } = await run(npubEncode(node));
    assert.equal(error, null);
    assert.match(out.at(-1)!, /^agrees with the server's score 0\.\d+ \(\|Δ\| = /);
    assert.ok(
      out.some((l) => /from 20 receipts and 4 verifications, every signature valid/.test(l)),
      out.join("\n"),
    );
    const json = JSON.parse((await run(node, "--json")).lines[0]);
    assert.equal(json.agrees, true);
    assert.ok(json.delta <= 1e-9);
    assert.equal(json.receipts, 20);
    assert.equal(json.verifications, 4);
    assert.deepEqual(json.chain_problems, []);
    const c = json.recomputed.components;
    // Job 9 was the consumer's cancel: not counted. 11 is unsigned, 13 names another output,
    // 15 over-reported its tokens; 3, 10, 17 failed and 5 timed out.
    assert.equal(c.unsigned > 0 && c.artifact_mismatches > 0 && c.metering_disagreements > 0, true);
    assert.ok(c.failures > 0 && c.timeouts > 0 && c.node_cancellations === 0);
    assert.ok(c.verification_failures > 0 && json.recomputed.suspicion > 0.15);
  });
});

Deno.test("infernet reputation - a forged or foreign event is refused in one line", async () => {
  await withNetwork(async (run, { node, platformSk, items, verifications, serve }) => {
    const forged = items.map((i, n) =>
      n === 4 ? { ...i, receipt: { ...i.receipt, sig: "00".repeat(64) } } : i
    );
    await serve({ items: forged, verifications });
    const refused = async (pattern: RegExp) => {
      const { error } = await run(node);
      assert.ok(error instanceof CliError, String(error));
      assert.equal(error.code, "receipt_invalid");
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes("\n"));
    };
    await refused(/signature is wrong/);
    // Receipts signed by a key other than the platform's published one.
    await serve({ verifications, platformKey: getPublicKey(generateSecretKey()) });
    await refused(/another key/);
    // Another node's receipt, slipped into this node's list.
    const foreign = history(platformSk, generateSecretKey(), Math.floor(Date.now() / 1000)).items[0];
    await serve({ items: [...items, foreign], verifications });
    await refused(/another node's/);
    // Not a verification at all.
    const other = finalizeEvent({ kind: 1, created_at: 1, tags: [], content: "" }, generateSecretKey());
    await serve({ verifications: [...verifications, other] });
    await refused(/kind must be 7477/);
  });
});

Deno.test("infernet reputation - a hidden receipt makes the scores disagree: exit 1", async () => {
  await withNetwork(async (run, { node, items, verifications, serve }) => {
    await serve({ items: items.filter((_, n) => n !== 3), verifications }); // job 3 failed: hiding it flatters the node
    const { lines, error } = await run(node);
    assert.ok(error instanceof CliError && error.code === "reputation_disagrees" && error.exitCode === 1);
    assert.match(lines.at(-1)!, /^DISAGREES with the server's score/);
    assert.ok(lines.some((l) => /^chain: /.test(l)), "the gap in the platform's chain is shown");
    const json = await run(node, "--json");
    assert.equal(JSON.parse(json.lines[0]).agrees, false);
    assert.ok(json.error instanceof CliError && json.error.code === "reputation_disagrees");
  });
});
