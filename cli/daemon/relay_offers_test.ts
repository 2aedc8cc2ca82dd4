import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { generateSecretKey, getPublicKey, verifyEvent } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { createLogger, NODE_RECORD_KIND, verifyNodeRecord } from "../../shared/mod.ts";
import { OFFER_KIND, readOffer } from "../../shared/relay/mod.ts";
import { MemoryEventRepository } from "../../shared/relay/memory_repository.ts";
import { RawRelaySocket, startTestRelay } from "../../testing/relay_socket.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";
import { within } from "../../testing/within.ts";
import { RelayOffers } from "./relay_offers.ts";

const secretKey = generateSecretKey();
const pubkey = getPublicKey(secretKey);
const identity = { secretKey, pubkey, npub: npubEncode(pubkey) };
const advert = sampleAdvert({
  nodeId: "relay-node",
  models: [
    { id: "m1", contextLength: 4096, promptPricePer1k: 1_000, completionPricePer1k: 2_000 },
    { id: "m2", contextLength: null, promptPricePer1k: 3_000, completionPricePer1k: 4_000 },
  ],
});

/** A node's offers on `relays`: one free slot unless told, no control plane unless told. */
function offersOn(
  relays: string[],
  refreshMs: number,
  opts: { advert?: () => typeof advert; freeSlots?: number; server?: string } = {},
): RelayOffers {
  return new RelayOffers({
    relays,
    identity,
    advert: opts.advert ?? (() => advert),
    freeSlots: () => opts.freeSlots ?? 2,
    server: opts.server ?? null,
    log: createLogger({ level: "silent" }),
    refreshMs,
  });
}

Deno.test("relay offers - both relays carry the node record and an offer per model; stop deletes them", async () => {
  const [a, b] = [await startTestRelay(), await startTestRelay()];
  const watchers = [await RawRelaySocket.open(a.url), await RawRelaySocket.open(b.url)];
  for (const w of watchers) await w.query("offers", { kinds: [OFFER_KIND], authors: [identity.pubkey] });
  const node = offersOn([a.url, b.url], 60_000, { freeSlots: 1, server: "http://127.0.0.1:8787" });
  try {
    const results = await within(node.start(), 10_000, "the first publish");
    strictEqual(results.length, 6); // record + 2 offers, on 2 relays
    ok(results.every((r) => r.ok), JSON.stringify(results));
    for (const w of watchers) {
      // Live, to a subscriber that was already listening on each relay.
      await w.next((m) => m[0] === "EVENT" && w.eventsOn("offers").length === 2, "two offers");
      const offers = w.eventsOn("offers").map((e) => readOffer(e, { verifyEvent }));
      const models = offers.map((o) => o.ok ? `${o.offer.model}@${o.offer.completionPer1k}` : o.reason)
        .sort();
      deepStrictEqual(models, ["m1@2000", "m2@4000"]);
      const first = offers[0];
      ok(first.ok);
      strictEqual(first.offer.nodeId, "relay-node");
      strictEqual(first.offer.freeSlots, 1);
      strictEqual(first.offer.receiptsUrl, `http://127.0.0.1:8787/api/receipts?node=${identity.pubkey}`);
      ok(first.offer.expiresAt - first.offer.createdAt >= 30);
      const records = await w.query("record", { kinds: [NODE_RECORD_KIND], authors: [identity.pubkey] });
      strictEqual(records.length, 1);
      ok(verifyNodeRecord(records[0]).ok);
    }
    await node.stop();
    for (const w of watchers) deepStrictEqual(await w.query("after", { kinds: [OFFER_KIND] }), []);
  } finally {
    await node.stop();
    for (const w of watchers) w.close();
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("relay offers - a node that dies without a word has its offers expire", async () => {
  let clock = Math.floor(Date.now() / 1000);
  const repository = new MemoryEventRepository({ nowS: () => clock });
  const relay = await startTestRelay({ repository });
  const node = offersOn([relay.url], 10_000);
  const watcher = await RawRelaySocket.open(relay.url);
  try {
    await within(node.start(), 10_000, "the first publish");
    strictEqual((await watcher.query("q1", { kinds: [OFFER_KIND] })).length, 2);
    await node.stop({ deleteOffers: false }); // a crash: no deletion
    strictEqual((await watcher.query("q2", { kinds: [OFFER_KIND] })).length, 2);
    clock += 31; // past three refresh intervals (30 s)
    deepStrictEqual(await watcher.query("q3", { kinds: [OFFER_KIND] }), []);
  } finally {
    watcher.close();
    await relay.close();
  }
});

Deno.test("relay offers - a model no longer served is deleted at the next refresh", async () => {
  const relay = await startTestRelay();
  let current = advert;
  const node = offersOn([relay.url], 60_000, { advert: () => current });
  const watcher = await RawRelaySocket.open(relay.url);
  try {
    await within(node.start(), 10_000, "the first publish");
    current = { ...advert, models: [advert.models[0]] };
    await node.refresh();
    const left = (await watcher.query("q", { kinds: [OFFER_KIND] })).map((e) =>
      readOffer(e, { verifyEvent })
    );
    deepStrictEqual(left.map((o) => o.ok ? o.offer.model : o.reason), ["m1"]);
  } finally {
    await node.stop();
    watcher.close();
    await relay.close();
  }
});

Deno.test("relay offers - a stop during the first publish deletes what it published; one before start publishes nothing", async () => {
  const relay = await startTestRelay();
  const watcher = await RawRelaySocket.open(relay.url);
  const racing = offersOn([relay.url], 20), late = offersOn([relay.url], 20);
  try {
    // A SIGTERM while the daemon starts: stop() is called before start() has resolved.
    const started = racing.start();
    const stopped = racing.stop();
    await within(Promise.all([started, stopped]), 10_000, "start and stop");
    deepStrictEqual(await watcher.query("after-racing-stop", { kinds: [OFFER_KIND] }), []);
    // No refresh after the stop (a 20 ms interval left running would publish them again).
    await new Promise((r) => setTimeout(r, 100));
    deepStrictEqual(await watcher.query("later", { kinds: [OFFER_KIND] }), []);

    await late.stop();
    deepStrictEqual(await within(late.start(), 10_000, "a start after stop"), []);
    deepStrictEqual(await watcher.query("after-late-start", { kinds: [OFFER_KIND] }), []);
  } finally {
    await racing.stop();
    await late.stop();
    watcher.close();
    await relay.close();
  }
});
