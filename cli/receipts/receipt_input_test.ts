import assert from "node:assert/strict";
import { fetchPlatformKey, fetchReceipts, parseReceiptsText } from "./receipt_input.ts";

const event = (kind: number) => ({ id: "a".repeat(64), kind });

Deno.test("receipt input - reads pages, arrays of pages, items and JSON lines", () => {
  const item = { receipt: event(7476), node_receipt: event(7475) };
  assert.deepEqual(parseReceiptsText(JSON.stringify({ receipts: [item], next: null })), {
    items: [item],
    events: [],
  });
  const two = parseReceiptsText(
    JSON.stringify([{ receipts: [item] }, { receipts: [{ receipt: event(7476) }] }]),
  );
  assert.equal(two.items.length, 2);
  assert.equal(two.items[1].node_receipt, null);
  const lines = parseReceiptsText(`${JSON.stringify(event(7475))}\n\n${JSON.stringify(event(7476))}\n`);
  assert.deepEqual(lines, { items: [], events: [event(7475), event(7476)] });
});

Deno.test("receipt input - names the line that is not JSON or not a receipt", () => {
  assert.throws(() => parseReceiptsText(`${JSON.stringify(event(7475))}\n{oops\n`), /line 2 is not JSON/);
  assert.throws(() => parseReceiptsText(`${JSON.stringify(event(7475))}\n[1]\n`), /line 2: neither/);
});

Deno.test("receipt input - refuses a cursor that does not advance, a bad key and a non-receipts URL", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/.well-known/infernet.json") return Response.json({ platform_pubkey: "nope" });
    return Response.json({ receipts: [], next: "5" });
  });
  try {
    const origin = `http://127.0.0.1:${server.addr.port}`;
    await assert.rejects(fetchReceipts(new URL(`${origin}/api/receipts?node=ab`)), /does not advance/);
    await assert.rejects(fetchPlatformKey(origin), /has no platform_pubkey/);
    await assert.rejects(fetchReceipts(new URL(`${origin}/v1/models`)), /not a \/api\/receipts URL/);
  } finally {
    await server.shutdown();
  }
});
