import assert from "node:assert/strict";
import { generateSecretKey } from "nostr-tools/pure";
import { artifactHash, embeddingsArtifactHash, verifyNodeReceipt } from "../../shared/mod.ts";
import { JobOutput, ReceiptChain } from "./job_receipt.ts";
import type { JobFrame } from "./engine_proxy.ts";

const chat: JobFrame = { type: "job", job_id: "job_1", kind: "chat", stream: true, body: { model: "m" } };

Deno.test("job output - streamed choices are hashed per index in arrival order, usage kept", () => {
  const out = new JobOutput();
  const chunk = (index: number, content: string) =>
    JSON.stringify({ choices: [{ index, delta: { content } }] });
  out.observe({ type: "chunks", job_id: "job_1", data: [chunk(1, "B1"), chunk(0, "A1")] });
  out.observe({
    type: "chunks",
    job_id: "job_1",
    data: [
      chunk(0, "A2"),
      chunk(1, "B2"),
      JSON.stringify({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 4 } }),
    ],
  });
  const s = out.summary("chat");
  assert.equal(s.artifactHash, artifactHash(["A1A2", "B1B2"]));
  assert.deepEqual(s.usage, { prompt_tokens: 4, completion_tokens: 4 });
  assert.ok(s.ttftMs !== null && s.ttftMs >= 0);
});

Deno.test("job output - a non-streamed answer and embeddings, and nothing sent", () => {
  const out = new JobOutput();
  out.observe({
    type: "response",
    job_id: "j",
    status: 200,
    body: JSON.stringify({
      choices: [{ index: 0, message: { content: "hi" } }],
      usage: { prompt_tokens: 1, completion_tokens: 1 },
    }),
  });
  assert.equal(out.summary("chat").artifactHash, artifactHash(["hi"]));
  const emb = new JobOutput();
  emb.observe({
    type: "response",
    job_id: "j",
    status: 200,
    body: JSON.stringify({ data: [{ embedding: [0.5, 1] }] }),
  });
  assert.equal(emb.summary("embeddings").artifactHash, embeddingsArtifactHash([[0.5, 1]]));
  const failed = new JobOutput();
  failed.observe({ type: "response", job_id: "j", status: 500, body: "{}" });
  assert.equal(failed.summary("chat").artifactHash, null);
});

Deno.test("receipt chain - each receipt follows the last; a reset continues from the server's head", () => {
  const chain = new ReceiptChain(generateSecretKey());
  const a = chain.sign(chat, new JobOutput(), "success");
  const b = chain.sign({ ...chat, job_id: "job_2" }, new JobOutput(), "failure");
  const va = verifyNodeReceipt(a);
  const vb = verifyNodeReceipt(b);
  assert.ok(va.ok && vb.ok);
  assert.equal(va.value.content.seq, 1);
  assert.equal(va.value.content.prev, null);
  assert.equal(vb.value.content.seq, 2);
  assert.equal(vb.value.content.prev, a.id);
  chain.reset({ id: a.id, seq: 1 });
  const c = verifyNodeReceipt(chain.sign({ ...chat, job_id: "job_3" }, new JobOutput(), "cancelled"));
  assert.ok(c.ok);
  assert.deepEqual([c.value.content.seq, c.value.content.prev, c.value.content.outcome], [
    2,
    a.id,
    "cancelled",
  ]);
});
