import assert from "node:assert/strict";
import {
  encodeFrame,
  type InboxFrame,
  parseBeat,
  parseHeartbeatFrame,
  parseInboxFrame,
  parsePresence,
} from "./cluster_frames.ts";
import type { AttemptFacts } from "../receipts/receipt_desk.ts";

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("cluster frames - every inbox frame survives the wire, the facts' bigints included", () => {
  const facts: AttemptFacts = {
    jobId: "job_1",
    nodePubkey: "a".repeat(64),
    kind: "chat",
    model: "m",
    apiKeyId: 12345678901234567n,
    outcome: "success",
    cancelledBy: null,
    errorCode: null,
    artifactHash: null,
    reported: { prompt_tokens: 3, completion_tokens: 4 },
    counted: null,
    billed: { prompt_tokens: 3, completion_tokens: 4 },
    amountNano: 9_007_199_254_740_993n,
    ttftMs: 12,
    durationMs: 40,
  };
  const frames: InboxFrame[] = [
    { t: "job", from: "cp_a", job: "job_1", node: "n", kind: "chat", stream: true, body: { model: "m" } },
    { t: "cancel", job: "job_1", reason: "client disconnected" },
    { t: "relay", from: "cp_a", job: "job_1", node: "n", header: { ticket: {}, consumer: "c" } },
    { t: "rf", job: "job_1", lines: ["sealed"] },
    {
      t: "ticket",
      node: "n",
      ticket: {
        id: "i",
        kind: 7478,
        pubkey: "p",
        created_at: 1,
        tags: [["p", "n"]],
        content: "{}",
        sig: "s",
      },
    },
    {
      t: "ev",
      job: "job_1",
      node: "n",
      evs: [{ type: "chunks", data: ["{}", "{}"] }, { type: "fail", code: "x", message: "y", started: true }],
    },
    { t: "expect", job: "job_1", node: "n", kind: "embeddings", model: "e" },
    { t: "forget", job: "job_1", node: "n" },
    { t: "ended", facts },
  ];
  for (const f of frames) assert.deepEqual(parseInboxFrame(encodeFrame(f)), f);
});

Deno.test("cluster frames - malformed messages are refused, not half-read", () => {
  for (
    const bad of [
      "not json",
      [],
      { t: "job", from: "a", job: "j", node: "n", kind: "images", stream: false, body: {} },
      { t: "ev", job: "j", node: "n", evs: [{ type: "chunks", data: [1] }] },
      { t: "ev", job: "j", node: "n", evs: [{ type: "teleport" }] },
      { t: "ended", facts: { jobId: "j", nodePubkey: "n", apiKeyId: null, amountNano: "1.5" } },
      { t: "ticket", node: "n", ticket: "not an event" },
      { t: "ticket", ticket: {} },
      { t: "unknown" },
    ]
  ) {
    const data = typeof bad === "string" ? new TextEncoder().encode(bad) : bytes(bad);
    assert.equal(parseInboxFrame(data), null, JSON.stringify(bad));
  }
});

Deno.test("cluster frames - beats, heartbeats and presence entries are checked at the edge", () => {
  assert.deepEqual(parseBeat(encodeFrame({ i: "cp_a", load: [["n", 2]] })), { i: "cp_a", load: [["n", 2]] });
  assert.equal(parseBeat(bytes({ load: [] })), null);
  const body = { node_id: "n1", load: 0.5, free_slots: 1, in_flight: 1, models: ["m"] };
  assert.deepEqual(parseHeartbeatFrame(encodeFrame({ node: "n", at: 5, body })), { node: "n", at: 5, body });
  assert.equal(parseHeartbeatFrame(bytes({ node: "n", at: 5, body: { ...body, load: -1 } })), null);
  const entry = { instance: "cp_b", event: { id: "x" }, heartbeat: body, heartbeatAt: 7 };
  assert.deepEqual(parsePresence(encodeFrame(entry)), entry);
  assert.equal(parsePresence(bytes({ ...entry, heartbeat: { node_id: 1 } })), null);
});
