// The job socket against a running server: only the signed answer to this connection's
// challenge, from a registered key, gets a node attached; everything else is closed with a reason.
import { sampleAdvert } from "../../../testing/node_advert.ts";
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import {
  createAuthEvent,
  createNip98Header,
  createNodeReceipt,
  createNodeRecord,
} from "../../../shared/mod.ts";
import { openTestControlPlane } from "../../../testing/control_plane.ts";

const advert = sampleAdvert();

interface Outcome {
  frames: Record<string, unknown>[];
  closeCode: number;
}

/** Connects, answers the challenge with `answer(challenge, url)`, and reports what happened. */
function connect(url: string, answer: (challenge: string, socketUrl: string) => unknown): Promise<Outcome> {
  const socketUrl = url.replace(/^http/, "ws") + "/api/nodes/ws";
  const ws = new WebSocket(socketUrl);
  const frames: Record<string, unknown>[] = [];
  return new Promise((resolve) => {
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      frames.push(f);
      if (f.type === "challenge") ws.send(JSON.stringify(answer(f.challenge, socketUrl)));
      if (f.type === "welcome") ws.close(1000);
    };
    ws.onclose = (e) => resolve({ frames, closeCode: e.code });
  });
}

Deno.test("socket - challenge auth: wrong challenge, unknown key and bad first frames are refused", async () => {
  const t = await openTestControlPlane({ serve: true });
  const url = t.server!.url;
  try {
    const sk = generateSecretKey();
    const body = JSON.stringify(createNodeRecord(sk, advert));
    const reg = await fetch(`${url}/api/nodes/register`, {
      method: "POST",
      body,
      headers: { authorization: createNip98Header(sk, `${url}/api/nodes/register`, "POST", body) },
    });
    assert.equal(reg.status, 201);
    await reg.body?.cancel();

    const wrongChallenge = await connect(
      url,
      (_c, s) => ({ type: "auth", event: createAuthEvent(sk, s, "00".repeat(32)) }),
    );
    assert.equal(wrongChallenge.closeCode, 4003);
    assert.match(String(wrongChallenge.frames.at(-1)?.message), /challenge does not match/);

    const stranger = generateSecretKey();
    const unknown = await connect(url, (c, s) => ({ type: "auth", event: createAuthEvent(stranger, s, c) }));
    assert.equal(unknown.closeCode, 4004);
    assert.match(String(unknown.frames.at(-1)?.message), /not registered/);

    const otherServer = await connect(url, (c) => ({
      type: "auth",
      event: createAuthEvent(sk, "wss://elsewhere.example/api/nodes/ws", c),
    }));
    assert.equal(otherServer.closeCode, 4003);

    const notAuth = await connect(url, () => ({ type: "pong", t: 1 }));
    assert.equal(notAuth.closeCode, 4001);
    assert.equal(t.cp.registry.get(getPublicKey(sk))?.connection ?? null, null, "nothing attached");

    const good = await connect(url, (c, s) => ({ type: "auth", event: createAuthEvent(sk, s, c) }));
    assert.equal(good.frames.at(-1)?.type, "welcome");
    assert.equal(good.frames.at(-1)?.pubkey, getPublicKey(sk));
  } finally {
    await t.close();
  }
});

Deno.test("socket - a receipts frame is checked in order and answered in one receipt_answers frame", async () => {
  const t = await openTestControlPlane({ serve: true });
  const url = t.server!.url;
  let ws: WebSocket | null = null;
  try {
    const sk = generateSecretKey();
    const node = getPublicKey(sk);
    const body = JSON.stringify(createNodeRecord(sk, advert));
    const reg = await fetch(`${url}/api/nodes/register`, {
      method: "POST",
      body,
      headers: { authorization: createNip98Header(sk, `${url}/api/nodes/register`, "POST", body) },
    });
    assert.equal(reg.status, 201);
    await reg.body?.cancel();
    const frames: Record<string, unknown>[] = [];
    let arrived = () => {};
    ws = new WebSocket(url.replace(/^http/, "ws") + "/api/nodes/ws");
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      frames.push(f);
      if (f.type === "challenge") {
        ws!.send(JSON.stringify({ type: "auth", event: createAuthEvent(sk, ws!.url, f.challenge) }));
      }
      arrived();
    };
    const next = async (type: string) => {
      for (let i = 0; i < 100 && !frames.some((f) => f.type === type); i++) {
        await new Promise<void>((r) => {
          arrived = r;
          setTimeout(r, 50);
        });
      }
      return frames.find((f) => f.type === type);
    };
    const welcome = await next("welcome");
    assert.equal(welcome?.receipt_batches, true);
    assert.equal(welcome?.receipt_head, null);

    const job = { kind: "chat" as const, model: advert.models[0].id };
    t.cp.receipts.expect("job_b1", node, job);
    t.cp.receipts.expect("job_b2", node, job);
    const receipt = (taskId: string, seq: number, prev: string | null) =>
      createNodeReceipt(sk, {
        task_id: taskId,
        category: "inference:chat",
        model: job.model,
        outcome: "success",
        artifact_hash: null,
        usage: null,
        ttft_ms: 1,
        duration_ms: 2,
        seq,
        prev,
        created_at: Math.floor(Date.now() / 1000),
      });
    const first = receipt("job_b1", 1, null);
    const second = receipt("job_b2", 2, first.id);
    const stranger = receipt("job_never_sent", 3, second.id);
    ws.send(JSON.stringify({ type: "receipts", events: [first, second, stranger] }));
    const answers = (await next("receipt_answers"))?.answers as Record<string, unknown>[];
    assert.deepEqual(answers.map((a) => [a.type, a.job_id, a.code]), [
      ["receipt_ok", "job_b1", undefined],
      ["receipt_ok", "job_b2", undefined],
      ["receipt_refused", "job_never_sent", "receipt_foreign"],
    ]);
    assert.deepEqual(answers[2].head, { id: second.id, seq: 2 });
    assert.equal(frames.filter((f) => f.type === "receipt_ok" || f.type === "receipt_refused").length, 0);
  } finally {
    ws?.close();
    await t.close();
  }
});
