import assert from "node:assert/strict";
import { parseNodeFrame, parseServerFrame } from "./messages.ts";

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
