import assert from "node:assert/strict";
import {
  generateSecretKey,
  getEventHash,
  getPublicKey,
  type NostrEvent,
  verifyEvent,
} from "nostr-tools/pure";
import { hexToBytes } from "@noble/hashes/utils.js";
import { receiptChain, resignWith } from "../../testing/receipts.ts";
import { canonicalJson, type CanonicalValue } from "./canonical_json.ts";
import {
  artifactHash,
  buyerDidOf,
  createNodeReceipt,
  embeddingsArtifactHash,
  NODE_RECEIPT_KIND,
  PLATFORM_RECEIPT_KIND,
  receiptIdOf,
  verifyNodeReceipt,
  verifyPlatformReceipt,
} from "./receipt.ts";
import { verifyVerification } from "./verification.ts";

const nodeKey = generateSecretKey();
const platformKey = generateSecretKey();
const platformPub = getPublicKey(platformKey);
const [pair] = receiptChain({ nodeKey, platformKey, count: 1 });
const nodeReceipt = pair.node_receipt!;
const platformReceipt = pair.receipt;

function reasonOf(check: { ok: true } | { ok: false; reason: string }): string {
  return check.ok ? "accepted" : check.reason;
}

/** A plain copy, as JSON off the wire: no verification mark cached by nostr-tools. */
function wire(event: NostrEvent): NostrEvent {
  return JSON.parse(JSON.stringify(event));
}

Deno.test("receipt - node and platform receipts round-trip through JSON and verify", () => {
  const n = verifyNodeReceipt(wire(nodeReceipt));
  assert.ok(n.ok);
  assert.equal(n.value.event.id, nodeReceipt.id);
  assert.deepEqual(n.value.content, JSON.parse(nodeReceipt.content));
  assert.equal(n.value.event.kind, NODE_RECEIPT_KIND);
  const p = verifyPlatformReceipt(wire(platformReceipt), platformPub);
  assert.ok(p.ok);
  assert.equal(p.value.content.node_receipt, nodeReceipt.id);
  assert.equal(p.value.event.kind, PLATFORM_RECEIPT_KIND);
  assert.deepEqual(p.value.event.tags.find((t) => t[0] === "e"), ["e", nodeReceipt.id]);
  assert.ok(verifyPlatformReceipt(wire(platformReceipt)).ok, "no key given: any signer is read");
});

Deno.test("receipt - checks signatures with the backend it is given", () => {
  const seen: string[] = [];
  const spy = (e: NostrEvent) => (seen.push(e.id), verifyEvent(e));
  assert.ok(verifyNodeReceipt(wire(nodeReceipt), { verifyEvent: spy }).ok);
  assert.ok(verifyPlatformReceipt(wire(platformReceipt), platformPub, { verifyEvent: spy }).ok);
  assert.deepEqual(seen, [nodeReceipt.id, platformReceipt.id]);
  const refuseAll = () => false;
  assert.match(
    reasonOf(verifyNodeReceipt(wire(nodeReceipt), { verifyEvent: refuseAll })),
    /signature is wrong/,
  );
  const throws = () => {
    throw new Error("backend down");
  };
  assert.match(
    reasonOf(verifyPlatformReceipt(wire(platformReceipt), undefined, { verifyEvent: throws })),
    /signature/,
  );
});

Deno.test("receipt - an unsigned job's platform receipt has no e tag and says signed: false", () => {
  const [item] = receiptChain({ nodeKey, platformKey, count: 1, unsigned: [0] });
  const p = verifyPlatformReceipt(wire(item.receipt), platformPub);
  assert.ok(p.ok);
  assert.equal(p.value.content.signed, false);
  assert.equal(p.value.content.node_receipt, null);
  assert.equal(item.receipt.tags.some((t) => t[0] === "e"), false);
});

Deno.test("receipt - refuses the wrong kind either way", () => {
  assert.match(reasonOf(verifyNodeReceipt(wire(platformReceipt))), /kind must be 7475/);
  assert.match(reasonOf(verifyPlatformReceipt(wire(nodeReceipt))), /kind must be 7476/);
  assert.match(reasonOf(verifyNodeReceipt({ ...wire(nodeReceipt), id: "x" })), /not a well-formed/);
});

Deno.test("receipt - refuses a bad signature and tampered content", () => {
  const bad = wire(nodeReceipt);
  bad.sig = (bad.sig[0] === "0" ? "1" : "0") + bad.sig.slice(1);
  assert.match(reasonOf(verifyNodeReceipt(bad)), /id or signature is wrong/);
  const tampered = wire(platformReceipt);
  tampered.content = tampered.content.replace('"amount":"0.000017"', '"amount":"0.000001"');
  assert.notEqual(tampered.content, platformReceipt.content);
  assert.match(reasonOf(verifyPlatformReceipt(tampered, platformPub)), /id or signature is wrong/);
});

Deno.test("receipt - a mark cached on the caller's event does not let edits through", () => {
  // finalizeEvent marks its result as verified; the verifier must check a fresh copy.
  const signed = createNodeReceipt(nodeKey, { ...JSON.parse(nodeReceipt.content), agent_did: undefined });
  assert.ok(verifyNodeReceipt(signed).ok);
  signed.content = signed.content.replace('"outcome":"success"', '"outcome":"failure"');
  assert.match(reasonOf(verifyNodeReceipt(signed)), /id or signature is wrong/);
});

Deno.test("receipt - refuses non-canonical content even when correctly signed", () => {
  const spaced = resignWith(nodeKey, nodeReceipt, () => {}, {
    rawContent: JSON.stringify(JSON.parse(nodeReceipt.content), null, 1),
  });
  assert.match(reasonOf(verifyNodeReceipt(spaced)), /not canonical JSON/);
  const content = JSON.parse(nodeReceipt.content);
  const unsorted = JSON.stringify({ task_id: content.task_id, ...content });
  const reordered = resignWith(nodeKey, nodeReceipt, () => {}, { rawContent: unsorted });
  assert.match(reasonOf(verifyNodeReceipt(reordered)), /not canonical JSON/);
  const notJson = resignWith(nodeKey, nodeReceipt, () => {}, { rawContent: "{oops" });
  assert.match(reasonOf(verifyNodeReceipt(notJson)), /not JSON/);
});

Deno.test("receipt - refuses an extra or a missing field, or a field of the wrong type", () => {
  const extra = resignWith(nodeKey, nodeReceipt, (c) => (c.gpu = "H100"));
  assert.match(reasonOf(verifyNodeReceipt(extra)), /content\.gpu is not a receipt field/);
  const missing = resignWith(platformKey, platformReceipt, (c) => delete c.buyer_did);
  assert.match(reasonOf(verifyPlatformReceipt(missing, platformPub)), /content\.buyer_did is missing/);
  const float = resignWith(platformKey, platformReceipt, (c) => (c.duration_ms = 1.5));
  assert.match(reasonOf(verifyPlatformReceipt(float, platformPub)), /content\.duration_ms/);
  const money = resignWith(platformKey, platformReceipt, (c) => (c.amount = "1e-6"));
  assert.match(reasonOf(verifyPlatformReceipt(money, platformPub)), /content\.amount/);
  const seq0 = resignWith(nodeKey, nodeReceipt, (c) => (c.seq = 0));
  assert.match(reasonOf(verifyNodeReceipt(seq0)), /content\.seq/);
});

Deno.test("receipt - refuses extra keys named like Object.prototype's, and extra token counts", () => {
  const ctorKey: string = "constructor";
  const ctor = resignWith(nodeKey, nodeReceipt, (c) => (c[ctorKey] = "x"));
  assert.match(reasonOf(verifyNodeReceipt(ctor)), /content\.constructor is not a receipt field/);
  // Canonical text (keys sorted: "_" before "a") with an own "__proto__" key, as JSON.parse makes it.
  const proto = resignWith(nodeKey, nodeReceipt, () => {}, {
    rawContent: `{"__proto__":{},${nodeReceipt.content.slice(1)}`,
  });
  assert.match(reasonOf(verifyNodeReceipt(proto)), /content\.__proto__ is not a receipt field/);
  const tokens = resignWith(
    nodeKey,
    nodeReceipt,
    (c) => (c.usage = { ...c.usage as object, total_tokens: 9 }),
  );
  assert.match(reasonOf(verifyNodeReceipt(tokens)), /content\.usage is missing or invalid/);
  const usage = resignWith(
    platformKey,
    platformReceipt,
    (c) => (c.usage = { ...c.usage as object, bonus: null }),
  );
  assert.match(reasonOf(verifyPlatformReceipt(usage, platformPub)), /content\.usage is missing or invalid/);
  // The receipts as made still pass.
  assert.ok(verifyNodeReceipt(wire(nodeReceipt)).ok);
  assert.ok(verifyPlatformReceipt(wire(platformReceipt), platformPub).ok);
});

Deno.test("receipt - refuses a node receipt whose agent_did is not its signer", () => {
  const other = generateSecretKey();
  const forged = resignWith(other, nodeReceipt, () => {});
  assert.match(reasonOf(verifyNodeReceipt(forged)), /agent_did is not the signer's key/);
});

Deno.test("receipt - refuses a platform receipt signed by a foreign key", () => {
  const foreign = generateSecretKey();
  const forged = resignWith(
    foreign,
    platformReceipt,
    (c) => (c.platform_did = `did:nostr:${getPublicKey(foreign)}`),
  );
  assert.match(reasonOf(verifyPlatformReceipt(forged, platformPub)), /another key than the control plane's/);
  assert.ok(verifyPlatformReceipt(forged).ok, "without the key only self-consistency is checked");
  const lying = resignWith(foreign, platformReceipt, () => {});
  assert.match(reasonOf(verifyPlatformReceipt(lying)), /platform_did is not the signer's key/);
});

Deno.test("receipt - refuses tags that disagree with the content", () => {
  const tags = platformReceipt.tags.map((t) => [...t]);
  const otherId = "f".repeat(64);
  const eTag = resignWith(platformKey, platformReceipt, () => {}, {
    tags: tags.map((t) => t[0] === "e" ? ["e", otherId] : t),
  });
  assert.match(
    reasonOf(verifyPlatformReceipt(eTag, platformPub)),
    /e tag differs from content\.node_receipt/,
  );
  const noE = resignWith(platformKey, platformReceipt, () => {}, { tags: tags.filter((t) => t[0] !== "e") });
  assert.match(reasonOf(verifyPlatformReceipt(noE, platformPub)), /e tag differs/);
  const pTag = resignWith(platformKey, platformReceipt, () => {}, {
    tags: tags.map((t) => t[0] === "p" ? ["p", otherId] : t),
  });
  assert.match(reasonOf(verifyPlatformReceipt(pTag, platformPub)), /p tag is not the agent's key/);
  const job = resignWith(nodeKey, nodeReceipt, () => {}, {
    tags: nodeReceipt.tags.map((t) => t[0] === "job" ? ["job", "job_other"] : t),
  });
  assert.match(reasonOf(verifyNodeReceipt(job)), /job tag differs/);
  const noT = resignWith(nodeKey, nodeReceipt, () => {}, {
    tags: nodeReceipt.tags.filter((t) => t[0] !== "t"),
  });
  assert.match(reasonOf(verifyNodeReceipt(noT)), /t tag infernet-receipt is missing/);
});

Deno.test("receipt - refuses signed and node_receipt that disagree", () => {
  const liar = resignWith(platformKey, platformReceipt, (c) => (c.signed = false));
  assert.match(reasonOf(verifyPlatformReceipt(liar, platformPub)), /signed and node_receipt disagree/);
});

Deno.test("receipt - refuses a receipt_id not derived from the job and node", () => {
  const wrong = resignWith(platformKey, platformReceipt, (c) => (c.receipt_id = "rcpt_" + "0".repeat(32)));
  assert.match(reasonOf(verifyPlatformReceipt(wrong, platformPub)), /receipt_id is not derived/);
});

Deno.test("receipt - a success is nobody's cancellation and carries no failure code", () => {
  assert.equal(JSON.parse(platformReceipt.content).outcome, "success");
  const cancelled = resignWith(platformKey, platformReceipt, (c) => (c.cancelled_by = "consumer"));
  assert.match(
    reasonOf(verifyPlatformReceipt(cancelled, platformPub)),
    /a success has cancelled_by consumer/,
  );
  const coded = resignWith(platformKey, platformReceipt, (c) => (c.error_code = "node_timeout"));
  assert.match(reasonOf(verifyPlatformReceipt(coded, platformPub)), /a success has error_code node_timeout/);
  // The flag of a direct job settled without the consumer's ack is a success's; a failure may carry
  // no code (a direct job's code travels sealed to the consumer).
  const unacked = resignWith(platformKey, platformReceipt, (c) => (c.error_code = "no_consumer_ack"));
  assert.equal(reasonOf(verifyPlatformReceipt(unacked, platformPub)), "accepted");
  const failed = resignWith(platformKey, platformReceipt, (c) => {
    c.outcome = "failure";
    c.cancelled_by = "consumer";
  });
  assert.equal(reasonOf(verifyPlatformReceipt(failed, platformPub)), "accepted");
});

Deno.test("receipt - refuses content.created_at that differs from the event's", () => {
  const moved = resignWith(nodeKey, nodeReceipt, () => {}, { createdAt: nodeReceipt.created_at + 1 });
  assert.match(reasonOf(verifyNodeReceipt(moved)), /created_at differs/);
  const movedP = resignWith(platformKey, platformReceipt, () => {}, { createdAt: 5 });
  assert.match(reasonOf(verifyPlatformReceipt(movedP, platformPub)), /created_at differs/);
});

Deno.test("receipt - hashes and ids are what the spec says", async () => {
  const enc = new TextEncoder();
  const hex = async (s: string) =>
    [...new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(s)))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(artifactHash(["Hello", " world"]), await hex("Hello world"));
  assert.equal(artifactHash([]), await hex(""));
  assert.equal(embeddingsArtifactHash([[1, 0.5]]), await hex("[[1,0.5]]"));
  assert.equal(receiptIdOf("job_1", "ab"), "rcpt_" + (await hex("job_1:ab")).slice(0, 32));
  assert.equal(buyerDidOf("ab", "acct_1"), "did:infernet:buyer:" + (await hex("ab:acct_1")).slice(0, 32));
});

interface VectorEvent {
  name: string;
  secret_key: string;
  event: NostrEvent;
  content: Record<string, unknown>;
}

Deno.test("receipt - the test vectors: canonical content, ids, signatures, hashes", async () => {
  const vectors = JSON.parse(
    await Deno.readTextFile(new URL("./testdata/receipts.vectors.json", import.meta.url)),
  );
  for (const side of ["node", "platform"]) {
    assert.equal(getPublicKey(hexToBytes(vectors.keys[side].secret_key)), vectors.keys[side].pubkey);
  }
  const h = vectors.hashes;
  assert.equal(artifactHash(h.artifact_chat.choice_texts), h.artifact_chat.expected);
  assert.equal(JSON.stringify(h.artifact_embeddings.embeddings), h.artifact_embeddings.json);
  assert.equal(embeddingsArtifactHash(h.artifact_embeddings.embeddings), h.artifact_embeddings.expected);
  assert.equal(receiptIdOf(h.receipt_id.job_id, h.receipt_id.node), h.receipt_id.expected);
  assert.equal(buyerDidOf(h.buyer_did.platform, h.buyer_did.account_id), h.buyer_did.expected);
  const platform = vectors.keys.platform.pubkey;
  const checks: Record<number, (e: unknown) => { ok: boolean }> = {
    7475: (e) => verifyNodeReceipt(e),
    7476: (e) => verifyPlatformReceipt(e, platform),
    7477: (e) => verifyVerification(e, platform),
  };
  assert.equal(vectors.events.length, 4);
  for (const v of vectors.events as VectorEvent[]) {
    assert.equal(canonicalJson(v.content as CanonicalValue), v.event.content, v.name);
    assert.equal(getEventHash(v.event), v.event.id, v.name);
    assert.equal(getPublicKey(hexToBytes(v.secret_key)), v.event.pubkey, v.name);
    assert.ok(verifyEvent(wire(v.event)), v.name);
    assert.ok(checks[v.event.kind](wire(v.event)).ok, v.name);
  }
});
