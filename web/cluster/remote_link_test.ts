import assert from "node:assert/strict";
import { TIMED_OUT } from "../dispatch/job_channel.ts";
import type { InboxFrame } from "./cluster_frames.ts";
import { RemoteLink } from "./remote_link.ts";

function link(sendOk = true) {
  const sent: InboxFrame[] = [];
  const l = new RemoteLink("node", "cp_b", "cp_a", (f) => {
    sent.push(f);
    return sendOk;
  });
  return { l, sent };
}

Deno.test("remote link - a job goes to the holder and its relayed events come back in order", async () => {
  const { l, sent } = link();
  const ch = l.startJob("j1", "chat", true, { model: "m" });
  assert.deepEqual(sent, [
    { t: "job", from: "cp_a", job: "j1", node: "node", kind: "chat", stream: true, body: { model: "m" } },
  ]);
  assert.equal(l.inFlight, 1);
  l.deliver("j1", [{ type: "chunks", data: ["a"] }, { type: "chunks", data: ["b"] }]);
  l.deliver("j1", [{ type: "end" }]);
  assert.deepEqual(await ch.next(10), { type: "chunks", data: ["a"] });
  assert.deepEqual(await ch.next(10), { type: "chunks", data: ["b"] });
  assert.deepEqual(await ch.next(10), { type: "end" });
  assert.equal(l.inFlight, 0);
  // Events for a job that ended here (or never was) are dropped.
  l.deliver("j1", [{ type: "chunks", data: ["late"] }]);
  assert.equal(await ch.next(5), TIMED_OUT);
});

Deno.test("remote link - a cancel is sent on and ends the job here at once", async () => {
  const { l, sent } = link();
  const ch = l.startJob("j1", "chat", false, {});
  l.cancelJob("j1", "client disconnected");
  assert.deepEqual(sent.at(-1), { t: "cancel", job: "j1", reason: "client disconnected" });
  assert.deepEqual(await ch.next(10), { type: "lost", reason: "cancelled: client disconnected" });
  l.cancelJob("j1", "again");
  assert.equal(sent.length, 2);
});

Deno.test("remote link - the holder gone, or unreachable, is a lost job, never a hang", async () => {
  const { l } = link();
  const a = l.startJob("a", "chat", false, {});
  const b = l.startJob("b", "chat", true, {});
  l.reportedLoad = 5;
  assert.equal(l.inFlight, 5);
  l.close("instance cp_b stopped answering");
  assert.equal(l.open, false);
  for (const ch of [a, b]) {
    assert.deepEqual(await ch.next(10), { type: "lost", reason: "instance cp_b stopped answering" });
  }
  assert.equal((await l.startJob("c", "chat", false, {}).next(10) as { type: string }).type, "lost");
  const down = link(false).l.startJob("d", "chat", false, {});
  assert.deepEqual(await down.next(10), { type: "lost", reason: "instance cp_b cannot be reached" });
  assert.equal((await l.openRelay("r", {}).next(10) as { type: string }).type, "lost");
  assert.equal(l.relayFrame("r", "line"), false);
});

Deno.test("remote link - a relayed direct request's lines go to the holder, its answer lines come back", async () => {
  const { l, sent } = link();
  const ch = l.openRelay("r1", { ticket: {}, consumer: "c" });
  assert.equal(l.relayFrame("r1", "sealed-1"), true);
  assert.equal(l.relayFrame("r1", "sealed-2"), true);
  assert.deepEqual(sent, [
    { t: "relay", from: "cp_a", job: "r1", node: "node", header: { ticket: {}, consumer: "c" } },
    { t: "rf", job: "r1", lines: ["sealed-1"] },
    { t: "rf", job: "r1", lines: ["sealed-2"] },
  ]);
  l.deliver("r1", [{ type: "chunks", data: ["answer-1", "answer-2"] }, { type: "end" }]);
  assert.deepEqual(await ch.next(10), { type: "chunks", data: ["answer-1", "answer-2"] });
  assert.deepEqual(await ch.next(10), { type: "end" });
  // Ended: no more lines go.
  assert.equal(l.relayFrame("r1", "late"), false);
  assert.equal(sent.length, 3);
});

Deno.test("remote link - a ticket announced ahead goes to the holder, and nowhere once the link is closed", () => {
  const { l, sent } = link();
  const ticket = {
    id: "t1",
    kind: 7478,
    pubkey: "p",
    created_at: 1,
    tags: [["p", "node"]],
    content: "{}",
    sig: "s",
  };
  l.announceTicket(ticket);
  assert.deepEqual(sent, [{ t: "ticket", node: "node", ticket }]);
  l.close("gone");
  l.announceTicket(ticket);
  assert.equal(sent.length, 1);
});
