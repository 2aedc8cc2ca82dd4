import assert from "node:assert/strict";
import { MAX_RECEIPTS_PER_FRAME, parseNodeFrame, parseServerFrame } from "./messages.ts";

Deno.test("messages - relay frames parse both ways; malformed ones are refused", () => {
  assert.deepEqual(parseServerFrame('{"type":"relay_open","job_id":"job_1","header":{"consumer":"ab"}}'), {
    type: "relay_open",
    job_id: "job_1",
    header: { consumer: "ab" },
  });
  assert.equal(
    parseServerFrame('{"type":"relay_frame","job_id":"job_1","frame":"AgAA"}')?.type,
    "relay_frame",
  );
  assert.equal(parseServerFrame('{"type":"relay_open","job_id":"job_1","header":"x"}'), null);
  assert.equal(parseNodeFrame('{"type":"relay_frame","job_id":"job_1","frame":"AgAA"}')?.type, "relay_frame");
  assert.deepEqual(parseNodeFrame('{"type":"relay_close","job_id":"job_1","error":null}'), {
    type: "relay_close",
    job_id: "job_1",
    error: null,
  });
  assert.equal(
    parseNodeFrame('{"type":"relay_close","job_id":"job_1","error":{"code":"ticket_expired","message":"m"}}')
      ?.type,
    "relay_close",
  );
  assert.equal(parseNodeFrame('{"type":"relay_close","job_id":"job_1","error":{"code":1}}'), null);
  assert.equal(parseNodeFrame('{"type":"relay_frame","job_id":"job_1","frame":7}'), null);
});

Deno.test("messages - receipt batches parse both ways; empty, oversized or malformed ones are refused", () => {
  const event = { id: "a", kind: 7475 };
  assert.equal(
    parseNodeFrame(JSON.stringify({ type: "receipts", events: [event, event] }))?.type,
    "receipts",
  );
  assert.equal(parseNodeFrame(JSON.stringify({ type: "receipts", events: [] })), null);
  assert.equal(parseNodeFrame(JSON.stringify({ type: "receipts", events: [event, 7] })), null);
  assert.equal(
    parseNodeFrame(
      JSON.stringify({ type: "receipts", events: Array(MAX_RECEIPTS_PER_FRAME + 1).fill(event) }),
    ),
    null,
  );
  const ok = { type: "receipt_ok", job_id: "job_1", receipt_id: "rcpt_1" };
  const refused = {
    type: "receipt_refused",
    job_id: null,
    code: "receipt_invalid",
    message: "m",
    head: null,
  };
  assert.deepEqual(parseServerFrame(JSON.stringify({ type: "receipt_answers", answers: [ok, refused] })), {
    type: "receipt_answers",
    answers: [ok, refused],
  });
  assert.equal(
    parseServerFrame(JSON.stringify({ type: "receipt_answers", answers: [ok, { type: "pong" }] })),
    null,
  );
  assert.equal(parseServerFrame(JSON.stringify({ ...refused, head: { id: "x", seq: 0 } })), null);
  assert.equal(parseServerFrame(JSON.stringify(ok))?.type, "receipt_ok");
});
