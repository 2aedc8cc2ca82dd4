import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { finalizeEvent, generateSecretKey } from "nostr-tools/pure";
import { RawRelaySocket, startTestRelay } from "../../testing/relay_socket.ts";
import { FLOOD_EVENTS, startMisbehavingRelay } from "../../testing/relay_misbehaving.ts";
import { within } from "../../testing/within.ts";
import { fastestSecp256k1 } from "../nostr/secp256k1.ts";
import { startRelay } from "./relay_server.ts";
import { MAX_INVALID_PER_CONNECTION } from "./relay_connection.ts";
import { RelayPool, type RelayPoolOptions } from "./relay_pool.ts";

const sk = generateSecretKey();
const note = (content: string, kind = 1) =>
  finalizeEvent({ kind, tags: [], content, created_at: Math.floor(Date.now() / 1000) }, sk);

async function poolOptions(over: Partial<RelayPoolOptions> = {}): Promise<RelayPoolOptions> {
  const curve = await fastestSecp256k1();
  return {
    verifyEvent: curve.verifyEvent,
    publishTimeoutMs: 1_000,
    eoseTimeoutMs: 1_000,
    connectTimeoutMs: 1_000,
    maxBackoffMs: 200,
    ...over,
  };
}

/** A port nothing listens on: a relay started and stopped. */
async function deadUrl(): Promise<string> {
  const r = await startTestRelay();
  await r.close();
  return r.url;
}

Deno.test("relay pool - publishes to every relay and reports each one", async () => {
  const [a, b] = [await startTestRelay(), await startTestRelay()];
  const silent = await startMisbehavingRelay("silent");
  const garbage = await startMisbehavingRelay("garbage");
  const dead = await deadUrl();
  const pool = new RelayPool([a.url, b.url, silent.url, garbage.url, dead], await poolOptions());
  try {
    const event = note("hello");
    const results = await within(pool.publish(event), 10_000, "publish results");
    const byUrl = Object.fromEntries(results.map((r) => [r.url, r]));
    strictEqual(byUrl[a.url].ok, true);
    strictEqual(byUrl[b.url].ok, true);
    strictEqual(byUrl[silent.url].ok, false);
    strictEqual(byUrl[garbage.url].ok, false);
    strictEqual(byUrl[dead].ok, false);
    strictEqual(a.repository.size, 1);
    strictEqual(b.repository.size, 1);
  } finally {
    pool.close();
    await Promise.all([a.close(), b.close(), silent.close(), garbage.close()]);
  }
});

Deno.test("relay pool - a query merges relays, drops duplicates, forgeries and garbage", async () => {
  const relays = [await startTestRelay(), await startTestRelay(), await startTestRelay()];
  const garbage = await startMisbehavingRelay("garbage");
  const silent = await startMisbehavingRelay("silent");
  const events = [note("one"), note("two"), note("three")];
  // Every real relay holds "one"; "two" and "three" are on one relay each.
  for (const r of relays) {
    const s = await RawRelaySocket.open(r.url);
    await s.publish(events[0]);
    s.close();
  }
  for (const [i, r] of [[1, relays[0]], [2, relays[2]]] as const) {
    const s = await RawRelaySocket.open(r.url);
    await s.publish(events[i]);
    s.close();
  }
  garbage.forge(events);
  const pool = new RelayPool([garbage.url, silent.url, ...relays.map((r) => r.url)], await poolOptions());
  try {
    const got = await within(pool.query([{ kinds: [1] }]), 10_000, "the query");
    deepStrictEqual(got.map((e) => e.id).sort(), events.map((e) => e.id).sort());
    ok(got.every((e) => e.content !== "forged"));
    const garbageStatus = pool.status().find((s) => s.url === garbage.url)!;
    ok(garbageStatus.dropped > 0, "garbage was counted as dropped");
  } finally {
    pool.close();
    await Promise.all([...relays.map((r) => r.close()), garbage.close(), silent.close()]);
  }
});

Deno.test("relay pool - a live subscription gets each new event once, forged copies first or not", async () => {
  const [a, b] = [await startTestRelay(), await startTestRelay()];
  const garbage = await startMisbehavingRelay("garbage");
  const pool = new RelayPool([a.url, b.url, garbage.url], await poolOptions());
  try {
    // The garbage relay answers the REQ with forged copies (same ids) before the genuine events
    // exist anywhere: the ids must not count as seen.
    const events = [note("x", 7), note("y", 7), note("z", 7)];
    garbage.forge(events);
    const seen: string[] = [];
    let eose!: () => void;
    const eosed = new Promise<void>((r) => eose = r);
    let gotThree!: () => void;
    const three = new Promise<void>((r) => gotThree = r);
    const sub = pool.subscribe([{ kinds: [7] }], {
      onevent: (e) => {
        seen.push(e.id);
        if (seen.length === 3) gotThree();
      },
      oneose: () => eose(),
    });
    await within(eosed, 5_000, "EOSE");
    const sa = await RawRelaySocket.open(a.url);
    const sb = await RawRelaySocket.open(b.url);
    for (const e of events) {
      await sa.publish(e);
      await sb.publish(e);
    }
    await within(three, 5_000, "three events");
    // A sentinel through relay a: everything published before it has been delivered by now.
    const last = note("last", 7);
    await sa.publish(last);
    await within(
      (async () => {
        while (!seen.includes(last.id)) await new Promise((r) => setTimeout(r, 10));
      })(),
      5_000,
      "the sentinel",
    );
    deepStrictEqual(seen, [...events.map((e) => e.id), last.id]);
    sub.close();
    sa.close();
    sb.close();
  } finally {
    pool.close();
    await Promise.all([a.close(), b.close(), garbage.close()]);
  }
});

Deno.test("relay pool - reconnects to a relay that comes back and resumes its subscriptions", async () => {
  const first = await startTestRelay();
  const port = first.port;
  const pool = new RelayPool([first.url], await poolOptions());
  let second: Awaited<ReturnType<typeof startRelay>> | null = null;
  try {
    const seen: string[] = [];
    pool.subscribe([{ kinds: [9] }], { onevent: (e) => void seen.push(e.id) });
    await within(
      (async () => {
        while (!pool.status()[0].connected) await new Promise((r) => setTimeout(r, 10));
      })(),
      5_000,
      "the first connection",
    );
    await first.close();
    second = await startRelay({ hostname: "127.0.0.1", port });
    await within(
      (async () => {
        while (pool.status()[0].connects < 2) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      "the reconnection",
    );
    const e = note("after", 9);
    const s = await RawRelaySocket.open(second.url);
    await s.publish(e);
    s.close();
    await within(
      (async () => {
        while (!seen.includes(e.id)) await new Promise((r) => setTimeout(r, 10));
      })(),
      5_000,
      "the event after reconnecting",
    );
  } finally {
    pool.close();
    await second?.close();
  }
});

Deno.test("relay pool - a relay flooding forged events is cut off after a bounded number", async () => {
  const good = await startTestRelay();
  const flood = await startMisbehavingRelay("flood");
  const event = note("real");
  const s = await RawRelaySocket.open(good.url);
  await s.publish(event);
  s.close();
  const pool = new RelayPool([flood.url, good.url], await poolOptions({ maxBackoffMs: 60_000 }));
  try {
    const got = await within(pool.query([{ kinds: [1] }]), 10_000, "the query");
    deepStrictEqual(got.map((e) => e.id), [event.id]);
    const status = pool.status().find((x) => x.url === flood.url)!;
    strictEqual(status.penalties, 1);
    // Verified up to the limit, then the socket was cut: the rest of the flood was never checked.
    ok(status.invalid >= MAX_INVALID_PER_CONNECTION && status.invalid < FLOOD_EVENTS, JSON.stringify(status));
    strictEqual(status.connected, false);
  } finally {
    pool.close();
    await Promise.all([good.close(), flood.close()]);
  }
});
