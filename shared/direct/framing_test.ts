import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { conversationKey, FrameOpener, FrameSealer, FramingError, MAX_FRAME_PLAINTEXT } from "./framing.ts";
import { v2 as nip44 } from "nostr-tools/nip44";

const consumer = generateSecretKey();
const node = generateSecretKey();
const c2nKey = conversationKey(consumer, getPublicKey(node));

Deno.test("framing - both sides derive one key; a long message crosses in frames of at most 64 KB", () => {
  assert.deepEqual(conversationKey(node, getPublicKey(consumer)), c2nKey);
  const text = 'é🍕"\\\n'.repeat(20_000) + "x".repeat(150_000);
  const sealer = new FrameSealer(c2nKey, "job_1", "c2n");
  const frames = [...sealer.message(text), ...sealer.message("second"), sealer.end()];
  assert.ok(frames.length > 4);
  for (const f of frames) {
    assert.ok(new TextEncoder().encode(nip44.decrypt(f, c2nKey)).length <= MAX_FRAME_PLAINTEXT);
  }
  const opener = new FrameOpener(conversationKey(node, getPublicKey(consumer)), "job_1", "c2n");
  const got = frames.map((f) => opener.open(f)).filter((o) => o.type !== "partial");
  assert.deepEqual(got, [{ type: "message", text }, { type: "message", text: "second" }, { type: "end" }]);
  assert.ok(opener.ended);
});

function refused(open: () => unknown): string {
  try {
    open();
  } catch (err) {
    if (err instanceof FramingError) return err.code;
    throw err;
  }
  return "accepted";
}

Deno.test("framing - tampered, foreign, reflected, replayed, reordered and late frames are refused", () => {
  const sealer = new FrameSealer(c2nKey, "job_1", "c2n");
  const [a, b] = [sealer.message("one")[0], sealer.message("two")[0]];
  const end = sealer.end();
  const open = () => new FrameOpener(c2nKey, "job_1", "c2n");
  const tampered = a.slice(0, 40) + (a[40] === "A" ? "B" : "A") + a.slice(41);
  assert.equal(refused(() => open().open(tampered)), "frame_undecryptable");
  assert.equal(refused(() => new FrameOpener(c2nKey, "job_2", "c2n").open(a)), "frame_foreign");
  assert.equal(refused(() => new FrameOpener(c2nKey, "job_1", "n2c").open(a)), "frame_reflected");
  assert.equal(refused(() => open().open(b)), "frame_out_of_order");
  const o = open();
  o.open(a);
  assert.equal(refused(() => o.open(a)), "frame_replayed");
  o.open(b);
  o.open(end);
  assert.equal(refused(() => o.open(b)), "frame_after_end");
  const other = conversationKey(generateSecretKey(), getPublicKey(node));
  assert.equal(refused(() => new FrameOpener(other, "job_1", "c2n").open(a)), "frame_undecryptable");
});

Deno.test("framing - an error frame ends the stream with its code", () => {
  const sealer = new FrameSealer(c2nKey, "job_9", "n2c");
  const o = new FrameOpener(c2nKey, "job_9", "n2c");
  assert.deepEqual(o.open(sealer.error("ticket_expired", "the ticket has expired")), {
    type: "error",
    code: "ticket_expired",
    message: "the ticket has expired",
  });
  assert.throws(() => sealer.message("more"));
});
