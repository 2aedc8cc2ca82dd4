// Reputation from a real relay: formula 1 over what the relay holds equals formula 1 over the same
// signed events in hand; forged and foreign events are skipped; and relayChat, given reputations,
// sends the job to the better node even when it is dearer, and to the cheaper when neither has
// receipts.
import assert from "node:assert/strict";
import {
  finalizeEvent,
  generateSecretKey,
  getPublicKey,
  type NostrEvent,
  verifyEvent,
} from "nostr-tools/pure";
import { createVerification } from "../receipts/verification.ts";
import { nostrDid } from "../receipts/receipt.ts";
import { computeReputation } from "../receipts/reputation.ts";
import { reputationReceiptOf } from "../receipts/reputation_input.ts";
import type { NodeReceiptContent, PlatformReceiptContent } from "../receipts/receipt.ts";
import { receiptChain, resignWith } from "../../testing/receipts.ts";
import { startTestRelay } from "../../testing/relay_socket.ts";
import { type Offer, offerOfVerifiedEvent, offerTemplate } from "./offer.ts";
import { RelayPool } from "./relay_pool.ts";
import { relayChat, type RelayVoucher } from "./relay_client.ts";
import { rankOffers, relayReputation, RelayReputations, reputationBucketOf } from "./relay_reputation.ts";

const MODEL = "m";
const T0 = 1_800_000_000;

async function publishAll(pool: RelayPool, events: NostrEvent[]): Promise<void> {
  for (const e of events) {
    const answers = await pool.publish(e);
    assert.ok(answers.every((a) => a.ok), JSON.stringify(answers));
  }
}

function offerOf(nodeKey: Uint8Array, completionPer1k: number): Offer {
  const now = Math.floor(Date.now() / 1000);
  const event = finalizeEvent(
    offerTemplate(
      {
        nodeId: "n1",
        model: MODEL,
        promptPer1k: 1000,
        completionPer1k,
        vramTier: "nano",
        maxConcurrency: 1,
        freeSlots: 1,
      },
      getPublicKey(nodeKey),
      60,
      now,
    ),
    nodeKey,
  );
  const check = offerOfVerifiedEvent(event, now);
  assert.ok(check.ok);
  return check.offer;
}

Deno.test("relay reputation - the relays' events give formula 1's score; forged and foreign ones are skipped", async () => {
  const relay = await startTestRelay();
  const pool = new RelayPool([relay.url], { verifyEvent });
  try {
    const platformKey = generateSecretKey();
    const nodeKey = generateSecretKey();
    const node = getPublicKey(nodeKey);
    const items = receiptChain({ nodeKey, platformKey, count: 12, unsigned: [2, 7], createdAt: T0 });
    const check = createVerification(platformKey, {
      task_id: "job_4",
      agent_did: nostrDid(node),
      receipt: items[3].receipt.id,
      check: "canary",
      result: "fail",
      detail: "token agreement 0.41 < 0.9",
      created_at: T0 + 20,
    });
    // A receipt of the same node signed by another key, and one of another node by the platform.
    const forged = resignWith(generateSecretKey(), items[0].receipt, (c) => (c.task_id = "job_x"));
    const other = receiptChain({ nodeKey: generateSecretKey(), platformKey, count: 2, createdAt: T0 });
    await publishAll(pool, [
      ...items.flatMap((i) => i.node_receipt ? [i.node_receipt, i.receipt] : [i.receipt]),
      check,
      forged,
      ...other.map((i) => i.receipt),
    ]);

    const time = { at: T0 + 3600, halfLifeS: 604_800 };
    const fromRelay = await relayReputation(pool, node, getPublicKey(platformKey), time);
    const expected = computeReputation(
      items.map((i) =>
        reputationReceiptOf(
          JSON.parse(i.receipt.content) as PlatformReceiptContent,
          i.node_receipt && JSON.parse(i.node_receipt.content) as NodeReceiptContent,
        )
      ),
      [{ createdAt: T0 + 20, result: "fail" }],
      time,
    );
    assert.equal(fromRelay.evidence.receipts.length, 12);
    assert.equal(fromRelay.evidence.verifications.length, 1);
    assert.ok(Math.abs(fromRelay.score - expected.score) <= 1e-12, `${fromRelay.score} vs ${expected.score}`);
    assert.ok(fromRelay.components.unsigned > 1.99 && fromRelay.components.verificationFailures > 0.99);

    // The newest N only, when bounded.
    const newest = await relayReputation(pool, node, getPublicKey(platformKey), time, { limit: 5 });
    assert.equal(newest.evidence.receipts.length, 5);
  } finally {
    pool.close();
    await relay.close();
  }
});

Deno.test("relay reputation - a node without receipts has the prior, and ranks by price within its bucket", () => {
  const a = offerOf(generateSecretKey(), 2000);
  const b = offerOf(generateSecretKey(), 1000);
  assert.equal(reputationBucketOf(0.7425), 5);
  assert.deepEqual(rankOffers([a, b], () => 0.7425).map((o) => o.pubkey), [b.pubkey, a.pubkey]);
  assert.deepEqual(
    rankOffers([a, b], (n) => n === b.pubkey ? 0.2 : 0.7425).map((o) => o.pubkey),
    [a.pubkey, b.pubkey],
  );
});

Deno.test("relay reputation - same bucket and price: the node with the shorter time to first token first", async () => {
  const a = offerOf(generateSecretKey(), 1000);
  const b = offerOf(generateSecretKey(), 1000);
  const ttft = (n: string) => n === a.pubkey ? 900 : n === b.pubkey ? 120 : null;
  assert.deepEqual(rankOffers([a, b], () => 0.9, ttft).map((o) => o.pubkey), [b.pubkey, a.pubkey]);
  // Unknown latency ranks after known; price still comes before latency.
  assert.deepEqual(rankOffers([a, b], () => 0.9, (n) => n === a.pubkey ? 900 : null)[0].pubkey, a.pubkey);
  const dear = offerOf(generateSecretKey(), 3000);
  assert.equal(rankOffers([dear, a], () => 0.9, (n) => n === dear.pubkey ? 10 : 900)[0].pubkey, a.pubkey);

  // From the relays: two nodes with good receipts, one slow and one fast.
  const relay = await startTestRelay();
  const pool = new RelayPool([relay.url], { verifyEvent });
  try {
    const platformKey = generateSecretKey();
    const [slowKey, fastKey] = [generateSecretKey(), generateSecretKey()];
    const now = Math.floor(Date.now() / 1000);
    for (const [nodeKey, ttftMs] of [[slowKey, 900], [fastKey, 120]] as const) {
      const items = receiptChain({ nodeKey, platformKey, count: 6, createdAt: now - 600, ttftMs });
      await publishAll(
        pool,
        items.flatMap((i) => i.node_receipt ? [i.node_receipt, i.receipt] : [i.receipt]),
      );
    }
    const reputations = new RelayReputations({ pool, platformKey: getPublicKey(platformKey) });
    const [slow, fast] = [offerOf(slowKey, 1000), offerOf(fastKey, 1000)];
    assert.deepEqual((await reputations.rank([slow, fast])).map((o) => o.pubkey), [fast.pubkey, slow.pubkey]);
  } finally {
    pool.close();
    await relay.close();
  }
});

/** The node relayChat sends its first request to (the scripted nodes never answer). */
async function firstChoice(pool: RelayPool, reputations: RelayReputations, offers: Offer[]) {
  const tried: string[] = [];
  const voucher = (): RelayVoucher => {
    const secretKey = generateSecretKey();
    return {
      event: finalizeEvent({ kind: 7482, created_at: 0, tags: [], content: "{}" }, secretKey),
      secretKey,
    };
  };
  // relayChat discovers the offers on the relays itself; the given list is what was published.
  await publishAll(pool, offers.map((o) => o.event));
  await assert.rejects(async () => {
    for await (
      const _ of relayChat({
        pool,
        body: { model: MODEL, messages: [{ role: "user", content: "hi" }] },
        takeVoucher: voucher,
        reputations,
        maxAttempts: 1,
        firstTokenTimeoutMs: 300,
        onAttempt: (offer) => tried.push(offer.pubkey),
      })
    ) { /* no answer comes */ }
  });
  return tried[0];
}

Deno.test("relayChat - picks the dearer node when the cheaper one has failed receipts; else the cheaper", async () => {
  const relay = await startTestRelay();
  const pool = new RelayPool([relay.url], { verifyEvent });
  try {
    const platformKey = generateSecretKey();
    const cheapKey = generateSecretKey();
    const dearKey = generateSecretKey();
    const cheap = offerOf(cheapKey, 1000);
    const dear = offerOf(dearKey, 3000);
    const platform = getPublicKey(platformKey);

    // No receipts anywhere: both have the prior, so the cheaper goes first.
    const fresh = new RelayReputations({ pool, platformKey: platform });
    assert.equal(await firstChoice(pool, fresh, [cheap, dear]), cheap.pubkey);

    // Ten recent jobs of the cheap node that it never signed: bad receipts, reliability 3/14.
    const now = Math.floor(Date.now() / 1000);
    const bad = receiptChain({
      nodeKey: cheapKey,
      platformKey,
      count: 10,
      unsigned: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      createdAt: now - 100,
    });
    await publishAll(pool, bad.map((i) => i.receipt));
    // A new cache: the one above still holds the prior for its minute.
    assert.ok(Math.abs(await fresh.score(cheap.pubkey) - 0.7425) < 1e-12);
    const informed = new RelayReputations({ pool, platformKey: platform });
    assert.ok(await informed.score(cheap.pubkey) < 0.25);
    assert.equal(await firstChoice(pool, informed, [cheap, dear]), dear.pubkey);
  } finally {
    pool.close();
    await relay.close();
  }
});
