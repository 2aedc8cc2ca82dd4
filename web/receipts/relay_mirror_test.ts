// The relay mirror against a real relay and a port nobody listens on: written receipts reach the
// live relay (node receipt first) while the dead one's lane waits on its own; a full lane drops
// its oldest events and says so.
import assert from "node:assert/strict";
import { generateSecretKey, verifyEvent } from "nostr-tools/pure";
import { createLogger, sleep } from "../../shared/mod.ts";
import type { ReceiptRow } from "../../db/mod.ts";
import { receiptChain } from "../../testing/receipts.ts";
import { startTestRelay } from "../../testing/relay_socket.ts";
import { RelayMirror } from "./relay_mirror.ts";

/** A ws:// URL with nothing behind it: a port taken and released. */
function deadRelayUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `ws://127.0.0.1:${port}`;
}

function rowsOf(items: ReturnType<typeof receiptChain>): ReceiptRow[] {
  // The mirror reads only the two events of a row.
  return items.map((i) =>
    ({
      event: JSON.stringify(i.receipt),
      nodeEvent: i.node_receipt && JSON.stringify(i.node_receipt),
    }) as ReceiptRow
  );
}

Deno.test("relay mirror - receipts reach a live relay while a dead one's lane waits on its own", async () => {
  const relay = await startTestRelay();
  const dead = deadRelayUrl();
  const mirror = new RelayMirror({
    urls: [relay.url, dead],
    log: createLogger({ level: "error" }),
    verifyEvent,
    inFlight: 2,
    publishTimeoutMs: 10_000,
  });
  try {
    const items = receiptChain({ nodeKey: generateSecretKey(), platformKey: generateSecretKey(), count: 10 });
    for (const row of rowsOf(items)) mirror.onReceipt(row);
    // Twenty events (a node and a platform receipt per job) on the live relay.
    // (Counted once the relay's OK is back, which follows the store.)
    for (let i = 0; i < 400 && mirror.stats()[0].published < 20; i++) await sleep(25);
    const stored = new Set(relay.repository.find({}).map((e) => e.id));
    for (const i of items) assert.ok(stored.has(i.receipt.id) && stored.has(i.node_receipt!.id));
    const [live, down] = mirror.stats();
    assert.equal(live.published, 20);
    // The dead relay holds two publishes for up to 10 s each: most of its lane still waits.
    assert.equal(down.published, 0);
    assert.ok(down.queued >= 18, JSON.stringify(down));
  } finally {
    mirror.close();
    await relay.close();
  }
});

Deno.test("relay mirror - a full lane drops its oldest events and counts them", () => {
  const mirror = new RelayMirror({
    urls: [deadRelayUrl()],
    log: createLogger({ level: "error" }),
    verifyEvent,
    inFlight: 1,
    maxQueue: 5,
    publishTimeoutMs: 10_000,
  });
  try {
    const items = receiptChain({ nodeKey: generateSecretKey(), platformKey: generateSecretKey(), count: 4 });
    for (const row of rowsOf(items)) mirror.onReceipt(row);
    // Eight events: one in flight, five queued, two dropped.
    assert.deepEqual(mirror.stats()[0], {
      url: mirror.stats()[0].url,
      queued: 6,
      published: 0,
      refused: 0,
      dropped: 2,
    });
  } finally {
    mirror.close();
  }
});

Deno.test("relay mirror - a malformed stored event is skipped, the others go out", () => {
  const lines: string[] = [];
  const mirror = new RelayMirror({
    urls: [deadRelayUrl()],
    log: createLogger({ level: "error", write: (l) => lines.push(l) }),
    verifyEvent,
    inFlight: 1,
    publishTimeoutMs: 10_000,
  });
  try {
    const [item] = receiptChain({ nodeKey: generateSecretKey(), platformKey: generateSecretKey(), count: 1 });
    mirror.publishJson(["{not json", JSON.stringify({ kind: 1 }), JSON.stringify(item.receipt)]);
    assert.equal(mirror.stats()[0].queued, 1);
    assert.equal(lines.filter((l) => l.includes("malformed")).length, 2);
  } finally {
    mirror.close();
  }
});
