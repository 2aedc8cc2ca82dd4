// The job socket against a running server: only the signed answer to this connection's
// challenge, from a registered key, gets a node attached; everything else is closed with a reason.
import { sampleAdvert } from "../../../testing/node_advert.ts";
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createAuthEvent, createNip98Header, createNodeRecord } from "../../../shared/mod.ts";
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
