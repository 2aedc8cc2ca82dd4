import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } from "nostr-tools/pure";
import { RawRelaySocket, startTestRelay } from "../../testing/relay_socket.ts";
import { startMisbehavingRelay } from "../../testing/relay_misbehaving.ts";
import { within } from "../../testing/within.ts";
import { fastestSecp256k1 } from "../nostr/secp256k1.ts";
import { discoverOffers } from "./discovery.ts";
import { type OfferInput, offerTemplate, readOffer } from "./offer.ts";
import { RelayPool } from "./relay_pool.ts";

const now = () => Math.floor(Date.now() / 1000);

function input(over: Partial<OfferInput> = {}): OfferInput {
  return {
    nodeId: "node-a",
    model: "qwen2.5:7b",
    promptPer1k: 100_000,
    completionPer1k: 200_000,
    vramTier: "medium",
    maxConcurrency: 4,
    freeSlots: 3,
    contextLength: 32_768,
    quantization: "int4",
    endpoint: "https://node.example:8443",
    receiptsUrl: "https://cp.example/api/receipts?node=ab",
    ...over,
  };
}

function offer(sk: Uint8Array, over: Partial<OfferInput> = {}, ttlS = 90, createdAt = now()) {
  return finalizeEvent(offerTemplate(input(over), getPublicKey(sk), ttlS, createdAt), sk);
}

Deno.test("offer - reads back what was signed", () => {
  const sk = generateSecretKey();
  const event = offer(sk);
  const check = readOffer(event, { verifyEvent });
  ok(check.ok, JSON.stringify(check));
  const { event: _e, createdAt: _c, expiresAt, pubkey, ...fields } = check.offer;
  deepStrictEqual(fields, input());
  strictEqual(pubkey, getPublicKey(sk));
  strictEqual(expiresAt, event.created_at + 90);
});

Deno.test("offer - refuses bad ones with a reason", () => {
  const sk = generateSecretKey();
  const cases: [string, ReturnType<typeof offer>][] = [
    ["expired", offer(sk, {}, 10, now() - 60)],
    ["outside", offer(sk, { promptPer1k: 1 })],
    ["outside", offer(sk, { completionPer1k: 10_000_000_000 })],
    ["capacity", offer(sk, { freeSlots: 9 })],
    ["too far", offer(sk, {}, 100_000)],
  ];
  const forged = { ...offer(sk), tags: offer(sk, { promptPer1k: 2_000 }).tags };
  cases.push(["signature", forged]);
  const noTier = offer(sk);
  cases.push(["tier", finalizeEvent({ ...noTier, tags: noTier.tags.filter((t) => t[0] !== "tier") }, sk)]);
  const otherKey = generateSecretKey();
  const stolen = offer(sk);
  cases.push(["a tag", finalizeEvent({ ...stolen }, otherKey)]);
  for (const [want, event] of cases) {
    const check = readOffer(event, { verifyEvent });
    ok(!check.ok && check.reason.includes(want), `${want}: ${JSON.stringify(check)}`);
  }
});

Deno.test("discovery - returns verified, unexpired offers, newest per node, cheapest first", async () => {
  const [a, b] = [await startTestRelay(), await startTestRelay()];
  const garbage = await startMisbehavingRelay("garbage");
  const curve = await fastestSecp256k1();
  const [k1, k2, k3, k4] = [
    generateSecretKey(),
    generateSecretKey(),
    generateSecretKey(),
    generateSecretKey(),
  ];
  const t = now();
  const older = offer(k1, { completionPer1k: 300_000 }, 90, t - 20);
  const newer = offer(k1, { completionPer1k: 250_000 }, 90, t - 10);
  const cheap = offer(k2, { nodeId: "node-b", completionPer1k: 150_000 });
  const underPriced = offer(k3, { nodeId: "node-c", promptPer1k: 10 });
  const otherModel = offer(k4, { nodeId: "node-d", model: "llama3:8b" });
  const soonGone = offer(k4, { nodeId: "node-e" }, 30);
  const sa = await RawRelaySocket.open(a.url);
  const sb = await RawRelaySocket.open(b.url);
  for (const e of [older, cheap, underPriced, soonGone]) strictEqual((await sa.publish(e))[0], true);
  for (const e of [newer, cheap, otherModel]) strictEqual((await sb.publish(e))[0], true);
  sa.close();
  sb.close();
  garbage.forge([{ ...cheap, tags: offer(k2, { nodeId: "node-b", completionPer1k: 1_000 }).tags }]);
  const pool = new RelayPool([a.url, b.url, garbage.url], {
    verifyEvent: curve.verifyEvent,
    eoseTimeoutMs: 2_000,
  });
  try {
    const dropped: string[] = [];
    const offers = await within(
      discoverOffers(pool, { model: "qwen2.5:7b", onDropped: (_e, why) => dropped.push(why) }),
      10_000,
      "discovery",
    );
    deepStrictEqual(offers.map((o) => o.event.id), [cheap.id, soonGone.id, newer.id]);
    strictEqual(offers.find((o) => o.nodeId === "node-b")!.completionPer1k, 150_000);
    ok(dropped.some((why) => why.includes("outside")), dropped.join("; "));
    const later = await discoverOffers(pool, { model: "qwen2.5:7b", nowS: t + 45 });
    deepStrictEqual(later.map((o) => o.event.id), [cheap.id, newer.id]);
    const all = await discoverOffers(pool, { knownModels: new Set(["qwen2.5:7b"]) });
    ok(all.every((o) => o.model === "qwen2.5:7b") && all.length === 3);
    const llama = await discoverOffers(pool, { model: "llama3:8b" });
    deepStrictEqual(llama.map((o) => o.event.id), [otherModel.id]);
  } finally {
    pool.close();
    await Promise.all([a.close(), b.close(), garbage.close()]);
  }
});
