// The consumer's side of relay jobs against a real relay and a scripted node: chunks in order make
// the answer; a reordered, dropped or replayed chunk is an error; chunks signed by anyone else, or
// not signed at all, are ignored; a node that stays silent is replaced by the next.
import assert from "node:assert/strict";
import {
  finalizeEvent,
  generateSecretKey,
  getPublicKey,
  type NostrEvent,
  verifyEvent,
} from "nostr-tools/pure";
import { conversationKey } from "../direct/conversation_key.ts";
import { FrameSealer } from "../direct/framing.ts";
import { DirectError } from "../direct/client.ts";
import { startTestRelay } from "../../testing/relay_socket.ts";
import { within } from "../../testing/within.ts";
import { type Offer, offerOfVerifiedEvent, offerTemplate } from "./offer.ts";
import { RelayPool } from "./relay_pool.ts";
import { relayChat, type RelayVoucher } from "./relay_client.ts";
import { chunkTemplate, JOB_REQUEST_KIND } from "./relay_client_events.ts";

const MODEL = "m";
/** Subscriptions of the scripted nodes, closed after each test. */
const closers: (() => void)[] = [];

/** A node that answers each request with `script(frames)`: the chunk events to publish, in order. */
async function scriptedNode(
  pool: RelayPool,
  script: (frames: string[], request: NostrEvent, nodeKey: Uint8Array) => NostrEvent[],
): Promise<{ offer: Offer }> {
  const nodeKey = generateSecretKey();
  const pubkey = getPublicKey(nodeKey);
  const now = Math.floor(Date.now() / 1000);
  const offerEvent = finalizeEvent(
    offerTemplate(
      {
        nodeId: "n1",
        model: MODEL,
        promptPer1k: 1000,
        completionPer1k: 1000,
        vramTier: "nano",
        maxConcurrency: 1,
        freeSlots: 1,
      },
      pubkey,
      60,
      now,
    ),
    nodeKey,
  );
  const check = offerOfVerifiedEvent(offerEvent, now);
  assert.ok(check.ok);
  await new Promise<void>((ready) => {
    const sub = pool.subscribe([{ kinds: [JOB_REQUEST_KIND], "#p": [pubkey] }], {
      onevent: (request) => {
        const jobId = request.tags.find((t) => t[0] === "job")![1];
        const sealer = new FrameSealer(conversationKey(nodeKey, request.pubkey), jobId, "n2c");
        const chunk = (text: string) => ({ choices: [{ index: 0, delta: { content: text } }] });
        const frames = [
          ...sealer.message(JSON.stringify(chunk("a"))),
          ...sealer.message(JSON.stringify(chunk("b"))),
        ];
        frames.push(sealer.end());
        for (const e of script(frames, request, nodeKey)) void pool.publish(e);
      },
      oneose: ready,
    });
    closers.push(() => sub.close());
  });
  return { offer: check.offer };
}

function voucher(): RelayVoucher {
  // The scripted node never checks it: any event stands in.
  const secretKey = generateSecretKey();
  const event = finalizeEvent({ kind: 7482, created_at: 0, tags: [], content: "{}" }, secretKey);
  return { event, secretKey };
}

async function run(pool: RelayPool, offers: Offer[], timeoutMs = 3_000): Promise<string> {
  let text = "";
  for await (
    const m of relayChat({
      pool,
      body: { model: MODEL, messages: [{ role: "user", content: "hi" }], stream: true },
      offers,
      takeVoucher: voucher,
      firstTokenTimeoutMs: timeoutMs,
      resultTimeoutMs: 200,
    })
  ) text += (m as { choices: { delta: { content: string } }[] }).choices[0].delta.content;
  return text;
}

async function withRelay(fn: (pool: RelayPool) => Promise<void>): Promise<void> {
  const relay = await startTestRelay();
  const pool = new RelayPool([relay.url], { verifyEvent });
  try {
    await fn(pool);
  } finally {
    for (const c of closers.splice(0)) c();
    pool.close();
    await relay.close();
  }
}

const sign = (request: NostrEvent, key: Uint8Array) => (payload: string, createdAt = request.created_at) =>
  finalizeEvent(chunkTemplate(request, payload, createdAt), key);

Deno.test("relay client - chunks in order make the answer", async () => {
  await withRelay(async (pool) => {
    const node = await scriptedNode(pool, (frames, req, key) => frames.map((f) => sign(req, key)(f)));
    assert.equal(await within(run(pool, [node.offer]), 10_000, "the answer"), "ab");
  });
});

Deno.test("relay client - a reordered, dropped or replayed chunk is an error", async () => {
  const cases: [string, (frames: string[]) => [string, number?][]][] = [
    ["frame_out_of_order", (f) => [[f[1]], [f[0]], [f[2]]]],
    ["frame_out_of_order", (f) => [[f[0]], [f[2]]]],
    // The same frame again in a new event (another id): a replay the framing catches.
    ["frame_replayed", (f) => [[f[0]], [f[0], 1], [f[1]], [f[2]]]],
  ];
  for (const [code, order] of cases) {
    await withRelay(async (pool) => {
      const node = await scriptedNode(
        pool,
        (frames, req, key) =>
          order(frames).map(([f, bump]) => sign(req, key)(f, req.created_at + (bump ?? 0))),
      );
      const err = await within(run(pool, [node.offer]).then(() => null, (e) => e), 10_000, code);
      assert.ok(err instanceof DirectError, String(err));
      assert.equal(err.code, code);
    });
  }
});

Deno.test("relay client - chunks from another key or with a bad signature are ignored", async () => {
  await withRelay(async (pool) => {
    const stranger = generateSecretKey();
    const node = await scriptedNode(pool, (frames, req, key) => {
      const forged = { ...sign(req, key)(frames[1]), sig: "00".repeat(64) };
      return [sign(req, stranger)(frames[1]), forged, ...frames.map((f) => sign(req, key)(f))];
    });
    assert.equal(await within(run(pool, [node.offer]), 10_000, "the answer"), "ab");
  });
});

Deno.test("relay client - a silent node is replaced by the next before the first token", async () => {
  await withRelay(async (pool) => {
    const silent = await scriptedNode(pool, () => []);
    const good = await scriptedNode(pool, (frames, req, key) => frames.map((f) => sign(req, key)(f)));
    assert.equal(await within(run(pool, [silent.offer, good.offer], 500), 10_000, "the answer"), "ab");
  });
});
