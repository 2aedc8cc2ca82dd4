import assert from "node:assert/strict";
import { UsedTickets } from "./used_tickets.ts";

Deno.test("used tickets - a job id is taken once until its ticket expires", () => {
  const used = new UsedTickets();
  assert.equal(used.claim("job_1", 160, 100), "claimed");
  assert.equal(used.claim("job_1", 160, 150), "reused");
  assert.equal(used.claim("job_2", 160, 150), "claimed");
});

Deno.test("used tickets - bounded: expired ids are forgotten first, then no more are taken", () => {
  const used = new UsedTickets({ max: 2 });
  assert.equal(used.claim("a", 110, 100), "claimed");
  assert.equal(used.claim("b", 200, 100), "claimed");
  assert.equal(used.claim("c", 200, 105), "full", "both live: nothing is forgotten");
  assert.equal(used.claim("c", 200, 120), "claimed", "a expired and made room");
  assert.equal(used.size, 2);
  assert.equal(used.claim("b", 200, 120), "reused");
});
