// The relay carries a direct request's lines to a node over its socket and the node's lines back,
// unchanged, for the job's own key and candidates only.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { testOnEachDatabase } from "../../../testing/databases.ts";
import { createTestKey } from "../../../testing/funding.ts";
import { type DirectPlane, type FakeDirectNode, openDirectPlane } from "../../../testing/direct_plane.ts";
import { within } from "../../../testing/within.ts";

async function routeJob(p: DirectPlane): Promise<{ jobId: string; ticket: unknown; node: FakeDirectNode }> {
  const res = await p.route({
    model: "m",
    prompt_tokens: 10,
    max_tokens: 10,
    consumer: getPublicKey(generateSecretKey()),
  });
  assert.equal(res.status, 200);
  const a = await res.json();
  const node = p.nodes.find((n) => n.pubkey === a.candidates[0].node)!;
  // The first candidate got its ticket ahead (route_test.ts); what follows is the relay's.
  for (const n of p.nodes) n.sent.length = 0;
  return { jobId: a.job_id, ticket: a.candidates[0].ticket, node };
}

function relay(
  p: DirectPlane,
  jobId: string,
  node: string,
  body: string,
  apiKey = p.t.apiKey,
): Promise<Response> {
  return Promise.resolve(p.app.request(`http://control.test/v1/relay/${jobId}?node=${node}`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/x-ndjson" },
    body,
  }));
}

/** Frames as a real node would send them (opaque here: any strings). */
const ANSWER = ["AgAAAAB3+frame/one==", 'not even "json" \\u0000 ✓', "AgAAAAB3+frame/end=="];

/** Makes the node answer once the request's last line ("END") has arrived. */
function answerAfterEnd(node: FakeDirectNode, close: { code: string; message: string } | null = null) {
  node.onFrame = (f) => {
    if (f.type !== "relay_frame" || f.frame !== "END") return;
    const jobId = f.job_id as string;
    queueMicrotask(() => {
      if (!close) {
        for (const frame of ANSWER) node.conn.handleFrame({ type: "relay_frame", job_id: jobId, frame });
      }
      node.conn.handleFrame({ type: "relay_close", job_id: jobId, error: close });
    });
  };
}

testOnEachDatabase("relay - forwards the lines unchanged both ways", async (db) => {
  const p = await openDirectPlane(db);
  try {
    const { jobId, ticket, node } = await routeJob(p);
    answerAfterEnd(node);
    const header = { ticket, consumer: "ab".repeat(32) };
    const frames = ["AgAAAAB3+c2n/one==", '{"looks":"like json"} but is opaque', "END"];
    const res = await relay(p, jobId, node.pubkey, [JSON.stringify(header), ...frames].join("\n") + "\n");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-ndjson");
    assert.equal(await res.text(), ANSWER.join("\n") + "\n");
    assert.deepEqual(node.sent[0], { type: "relay_open", job_id: jobId, header });
    assert.deepEqual(node.sent.slice(1).map((f) => f.frame), frames);
    assert.ok(node.sent.slice(1).every((f) => f.type === "relay_frame" && f.job_id === jobId));
  } finally {
    await p.close();
  }
});

testOnEachDatabase(
  "relay - a foreign key or a non-candidate node is refused and nothing is forwarded",
  async (db) => {
    const p = await openDirectPlane(db, { count: 2 });
    try {
      const { jobId, node } = await routeJob(p);
      const { key } = await createTestKey(db.sql, 1_000_000_000n);
      const foreign = await relay(p, jobId, node.pubkey, '{"ticket":{}}\nEND\n', key);
      assert.equal(foreign.status, 403);
      await foreign.body?.cancel();
      const stranger = getPublicKey(generateSecretKey());
      const notCandidate = await relay(p, jobId, stranger, '{"ticket":{}}\nEND\n');
      assert.equal(notCandidate.status, 404);
      assert.equal((await notCandidate.json()).error.code, "node_not_candidate");
      const unknown = await relay(p, "job_nope", node.pubkey, '{"ticket":{}}\nEND\n');
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
      const overlong = await relay(p, jobId, node.pubkey, "x".repeat(200 * 1024));
      assert.equal(overlong.status, 413);
      await overlong.body?.cancel();
      assert.deepEqual(p.nodes.flatMap((n) => n.sent), []);
    } finally {
      await p.close();
    }
  },
);

testOnEachDatabase(
  "relay - a node's refusal is the answer's status and error; an abort cancels; a lost node ends the stream",
  async (db) => {
    const p = await openDirectPlane(db);
    try {
      const { jobId, node } = await routeJob(p);
      answerAfterEnd(node, { code: "ticket_expired", message: "the ticket has expired" });
      const refused = await relay(p, jobId, node.pubkey, '{"ticket":{}}\nEND\n');
      assert.equal(refused.status, 401);
      assert.deepEqual(await refused.json(), {
        error: { code: "ticket_expired", message: "the ticket has expired" },
      });

      // The node answers one frame and then holds the stream open.
      node.onFrame = (f) => {
        if (f.type === "relay_frame" && f.frame === "END") {
          queueMicrotask(() => node.conn.handleFrame({ type: "relay_frame", job_id: jobId, frame: "first" }));
        }
      };
      const open = await relay(p, jobId, node.pubkey, '{"ticket":{}}\nEND\n');
      assert.equal(open.status, 200);
      const reader = open.body!.getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), "first\n");
      await reader.cancel();
      assert.deepEqual(node.sent.at(-1), { type: "cancel", job_id: jobId, reason: "client disconnected" });

      const again = await relay(p, jobId, node.pubkey, '{"ticket":{}}\nEND\n');
      const r2 = again.body!.getReader();
      assert.equal(new TextDecoder().decode((await r2.read()).value), "first\n");
      node.conn.close("node went away");
      const last = await within(r2.read(), 2000, "the stream's end");
      assert.equal(last.done, true);
    } finally {
      await p.close();
    }
  },
);

testOnEachDatabase(
  "relay - over a real server, a streamed request body reaches the node and the answer streams back",
  async (db) => {
    const p = await openDirectPlane(db, { serve: true });
    try {
      const { jobId, ticket, node } = await routeJob(p);
      answerAfterEnd(node);
      const lines = [JSON.stringify({ ticket, consumer: "ab".repeat(32) }), "c2n-1", "c2n-2", "END"];
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (const l of lines) c.enqueue(enc.encode(l + "\n"));
          c.close();
        },
      });
      const res = await fetch(`${p.t.server!.url}/v1/relay/${jobId}?node=${node.pubkey}`, {
        method: "POST",
        headers: { authorization: `Bearer ${p.t.apiKey}`, "content-type": "application/x-ndjson" },
        body,
      });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), ANSWER.join("\n") + "\n");
      assert.deepEqual(node.sent.slice(1).map((f) => f.frame), ["c2n-1", "c2n-2", "END"]);
    } finally {
      await p.close();
    }
  },
);
