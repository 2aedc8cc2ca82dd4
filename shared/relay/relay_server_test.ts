import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { RawRelaySocket, startTestRelay } from "../../testing/relay_socket.ts";
import { MemoryEventRepository } from "./memory_repository.ts";

const sk = generateSecretKey();
const now = () => Math.floor(Date.now() / 1000);

function sign(kind: number, tags: string[][] = [], content = "", createdAt = now()) {
  return finalizeEvent({ kind, tags, content, created_at: createdAt }, sk);
}

async function withRelay(
  fn: (a: RawRelaySocket, b: RawRelaySocket, repo: MemoryEventRepository) => Promise<void>,
  repo = new MemoryEventRepository(),
) {
  const relay = await startTestRelay({ repository: repo, maxEventBytes: 16 * 1024 });
  const a = await RawRelaySocket.open(relay.url);
  const b = await RawRelaySocket.open(relay.url);
  try {
    await fn(a, b, repo);
  } finally {
    a.close();
    b.close();
    await relay.close();
  }
}

Deno.test("relay - stored events come before EOSE, live ones after it", async () => {
  await withRelay(async (a, b) => {
    const stored = sign(1, [], "stored");
    deepStrictEqual(await b.publish(stored), [true, ""]);
    const before = await a.query("s", { kinds: [1] });
    deepStrictEqual(before.map((e) => e.id), [stored.id]);
    const live = sign(1, [], "live");
    await b.publish(live);
    const got = await a.next(
      (m) => m[0] === "EVENT" && (m[2] as { id: string }).id === live.id,
      "live event",
    );
    strictEqual(got[1], "s");
  });
});

Deno.test("relay - live fan-out honours tag filters and CLOSE", async () => {
  await withRelay(async (a, b) => {
    const alice = getPublicKey(generateSecretKey());
    const bob = getPublicKey(generateSecretKey());
    await a.query("to-alice", { kinds: [5050], "#p": [alice] });
    await b.publish(sign(5050, [["p", bob]], "for bob"));
    const mine = sign(5050, [["p", alice]], "for alice");
    await b.publish(mine);
    await a.next((m) => m[0] === "EVENT" && (m[2] as { id: string }).id === mine.id, "alice's event");
    // The socket keeps order: had bob's event been sent, it would be here before alice's.
    deepStrictEqual(a.eventsOn("to-alice").map((e) => e.id), [mine.id]);
    a.send(["CLOSE", "to-alice"]);
    await a.query("probe", { ids: ["0".repeat(64)] });
    const after = sign(5050, [["p", alice]], "after close");
    await b.publish(after);
    await a.query("probe2", { ids: [after.id] });
    deepStrictEqual(a.eventsOn("to-alice").map((e) => e.id), [mine.id]);
  });
});

Deno.test("relay - ephemeral events reach live subscribers and are not stored", async () => {
  await withRelay(async (a, b, repo) => {
    await a.query("eph", { kinds: [20_001] });
    const chunk = sign(20_001, [], "chunk");
    deepStrictEqual(await b.publish(chunk), [true, ""]);
    await a.next((m) => m[0] === "EVENT" && m[1] === "eph", "the ephemeral event");
    deepStrictEqual(await b.query("later", { kinds: [20_001] }), []);
    strictEqual(repo.size, 0);
  });
});

Deno.test("relay - refuses a forged signature or a wrong id, and does not pass them on", async () => {
  await withRelay(async (a, b, repo) => {
    await a.query("all", { kinds: [1] });
    const good = sign(1, [], "good");
    const forged = { ...good, content: "changed" };
    const [accepted, message] = await b.publish(forged);
    strictEqual(accepted, false);
    ok(message.startsWith("invalid:"), message);
    const badSig = { ...sign(1, [], "x"), sig: good.sig };
    strictEqual((await b.publish(badSig))[0], false);
    strictEqual(repo.size, 0);
    // A forged copy seen first does not get the genuine event (same id) refused.
    deepStrictEqual(await b.publish(good), [true, ""]);
    await a.next((m) => m[0] === "EVENT" && (m[2] as { id: string }).id === good.id, "the good event");
    deepStrictEqual(a.eventsOn("all").map((e) => e.id), [good.id]);
  });
});

Deno.test("relay - replaceable and addressable events keep the newest", async () => {
  await withRelay(async (_a, b) => {
    const t = now();
    const old = sign(10_002, [], "old", t - 10);
    const fresh = sign(10_002, [], "new", t);
    await b.publish(fresh);
    await b.publish(old); // arrives later but is older: ignored
    deepStrictEqual((await b.query("r", { kinds: [10_002] })).map((e) => e.id), [fresh.id]);
    const offerA1 = sign(30_400, [["d", "model-a"]], "a1", t - 5);
    const offerA2 = sign(30_400, [["d", "model-a"]], "a2", t);
    const offerB = sign(30_400, [["d", "model-b"]], "b", t - 5);
    for (const e of [offerA1, offerB, offerA2]) await b.publish(e);
    const got = await b.query("a", { kinds: [30_400] });
    deepStrictEqual(got.map((e) => e.id).sort(), [offerA2.id, offerB.id].sort());
    deepStrictEqual((await b.query("d", { kinds: [30_400], "#d": ["model-a"] })).map((e) => e.id), [
      offerA2.id,
    ]);
  });
});

Deno.test("relay - NIP-40: refuses an expired event and stops serving one once it expires", async () => {
  let clock = now();
  const repo = new MemoryEventRepository({ nowS: () => clock });
  await withRelay(async (_a, b) => {
    const expired = sign(1, [["expiration", String(now() - 1)]], "too late");
    const [accepted, message] = await b.publish(expired);
    strictEqual(accepted, false);
    ok(message.includes("expired"), message);
    const soon = sign(30_400, [["d", "m"], ["expiration", String(clock + 60)]], "offer");
    strictEqual((await b.publish(soon))[0], true);
    deepStrictEqual((await b.query("q1", { kinds: [30_400] })).map((e) => e.id), [soon.id]);
    clock += 61;
    deepStrictEqual(await b.query("q2", { kinds: [30_400] }), []);
    strictEqual(repo.size, 0);
  }, repo);
});

Deno.test("relay - refuses an oversized event with OK false and keeps serving", async () => {
  await withRelay(async (a, b, repo) => {
    await a.query("all", { kinds: [1] });
    const big = sign(1, [], "x".repeat(20 * 1024));
    const [accepted, message] = await b.publish(big);
    strictEqual(accepted, false);
    ok(message.startsWith("invalid:"), message);
    strictEqual(repo.size, 0);
    const small = sign(1, [], "small");
    deepStrictEqual(await b.publish(small), [true, ""]);
    await a.next((m) => m[0] === "EVENT" && (m[2] as { id: string }).id === small.id, "the small event");
    deepStrictEqual(a.eventsOn("all").map((e) => e.id), [small.id]);
  });
});

Deno.test("relay - garbage gets a NOTICE and the connection stays usable", async () => {
  await withRelay(async (_a, b) => {
    b.send("this is not json");
    b.send(["EVENT", { kind: "nope" }]);
    await b.next((m) => m[0] === "NOTICE", "a notice");
    const e = sign(1, [], "still here");
    deepStrictEqual(await b.publish(e), [true, ""]);
  });
});

Deno.test("relay - NIP-09 deletion removes the author's addressable event", async () => {
  await withRelay(async (_a, b) => {
    const offer = sign(30_400, [["d", "m"]], "offer");
    await b.publish(offer);
    const address = `30400:${getPublicKey(sk)}:m`;
    strictEqual((await b.publish(sign(5, [["a", address]], "stopped")))[0], true);
    deepStrictEqual(await b.query("q", { kinds: [30_400] }), []);
  });
});

Deno.test("relay - NIP-09: the deletion request reaches live subscribers and stays to be read", async () => {
  await withRelay(async (a, b) => {
    await b.publish(sign(30_400, [["d", "m"]], "offer"));
    await a.query("deletions", { kinds: [5] });
    const deletion = sign(5, [["a", `30400:${getPublicKey(sk)}:m`]], "stopped");
    deepStrictEqual(await b.publish(deletion), [true, ""]);
    await a.next((m) => m[0] === "EVENT" && (m[2] as { id: string }).id === deletion.id, "the deletion");
    deepStrictEqual((await b.query("later", { kinds: [5] })).map((e) => e.id), [deletion.id]);
    // Sent again: a duplicate, not passed on twice.
    strictEqual((await b.publish(deletion))[0], true);
    await a.query("probe", { ids: ["0".repeat(64)] });
    deepStrictEqual(a.eventsOn("deletions").map((e) => e.id), [deletion.id]);
  });
});
