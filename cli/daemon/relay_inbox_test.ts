import assert from "node:assert/strict";
import { MAX_PENDING, RelayInbox } from "./relay_inbox.ts";

Deno.test("relay inbox - frames come out in order, waiting for the next one", async () => {
  const inbox = new RelayInbox();
  inbox.push("a");
  assert.equal(await inbox.next(), "a");
  const later = inbox.next();
  inbox.push("b");
  assert.equal(await later, "b");
  inbox.close();
  assert.equal(await inbox.next(), null);
});

Deno.test("relay inbox - a request idle too long ends", async () => {
  const inbox = new RelayInbox({ idleMs: 5 });
  assert.equal(await inbox.next(), null);
  inbox.push("late");
  assert.equal(await inbox.next(), null, "frames after the end are dropped");
});

Deno.test("relay inbox - past MAX_PENDING waiting frames the request is cut", async () => {
  const inbox = new RelayInbox();
  for (let i = 0; i <= MAX_PENDING; i++) inbox.push(String(i));
  assert.equal(await inbox.next(), null);
});
