// The redeemer's filing rules against a small HTTP server on 127.0.0.1 that answers as the control
// plane would: a final refusal is filed once, anything else waits, passes are bounded, and every
// request is NIP-98 signed by the node for the exact body. (tests/vouchers_test.ts runs it against
// a real control plane that is stopped and started again.)
import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createVoucher, verifyNip98 } from "../../shared/mod.ts";
import { type VoucherClaim, VoucherRedeemer } from "./voucher_redeemer.ts";

const platform = generateSecretKey();
const node = generateSecretKey();

function claim(n: number): VoucherClaim {
  const now = Math.floor(Date.now() / 1000);
  const voucher = createVoucher(platform, {
    voucher_id: `vch_${n.toString(16).padStart(32, "0")}`,
    buyer_did: "did:infernet:buyer:x",
    consumer: getPublicKey(generateSecretKey()),
    max_nano: "1000",
    currency: "USD",
    expires_at: now + 60,
    created_at: now,
  });
  const receipt = finalizeEvent({ kind: 7475, created_at: now, tags: [], content: "{}" }, node);
  return { voucher, receipt, price: { prompt_per_1k: 1, completion_per_1k: 1 } };
}

/** Serves `answer(voucher id, call number)` as the redemption endpoint; counts the calls. */
function serve(answer: (id: string, call: number) => [number, unknown]) {
  const calls: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const raw = new Uint8Array(await req.arrayBuffer());
    const body = new TextDecoder().decode(raw);
    const auth = verifyNip98(req.headers.get("authorization"), { url: req.url, method: "POST", body: raw });
    if (!auth.ok || auth.pubkey !== getPublicKey(node)) {
      return Response.json({ error: { code: "nip98_invalid" } }, { status: 401 });
    }
    const id = JSON.parse(JSON.parse(body).voucher.content).voucher_id;
    calls.push(id);
    const [status, json] = answer(id, calls.length);
    return Response.json(json, { status });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, calls, close: () => server.shutdown() };
}

Deno.test("voucher redeemer - files final answers once, retries the rest within its bound", async () => {
  const home = await Deno.makeTempDir();
  const ids = [claim(1), claim(2), claim(3)];
  const server = serve((id) => {
    if (id.endsWith("1")) return [200, { object: "voucher_redemption", charged_nano: "7" }];
    if (id.endsWith("2")) return [400, { error: { code: "receipt_invalid", message: "another node's" } }];
    return [503, { error: { code: "server_draining" } }];
  });
  try {
    const r = new VoucherRedeemer({ home, secretKey: node, server: server.url });
    for (const c of ids) await r.keep(c);
    const out = await r.run({ maxPasses: 3, firstDelayMs: 1 });
    const [a, b, c] = ids.map((x) => JSON.parse(x.voucher.content).voucher_id);
    assert.deepEqual(out, { redeemed: [a], refused: [{ id: b, code: "receipt_invalid" }], waiting: [c] });
    // Three passes: the first tries all three, the next two only the one still waiting.
    assert.deepEqual(server.calls, [a, b, c, c, c]);
    assert.deepEqual(await r.pending(), [c]);
    const filed = JSON.parse(await Deno.readTextFile(`${home}/vouchers/redeemed/${a}.json`));
    assert.equal(filed.outcome.charged_nano, "7");
    const refused = JSON.parse(await Deno.readTextFile(`${home}/vouchers/refused/${b}.json`));
    assert.equal(refused.outcome.code, "receipt_invalid");
  } finally {
    await server.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("voucher redeemer - no server: everything waits, nothing is lost", async () => {
  const home = await Deno.makeTempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  try {
    const r = new VoucherRedeemer({ home, secretKey: node, server: `http://127.0.0.1:${port}` });
    const id = await r.keep(claim(9));
    const out = await r.run({ maxPasses: 2, firstDelayMs: 1 });
    assert.deepEqual(out, { redeemed: [], refused: [], waiting: [id] });
    assert.deepEqual(await r.pending(), [id]);
    // An aborted run stops at once.
    const stop = new AbortController();
    stop.abort();
    assert.deepEqual(await r.run({ signal: stop.signal }), { redeemed: [], refused: [], waiting: [] });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("voucher redeemer - refuses to keep what is not a voucher", async () => {
  const home = await Deno.makeTempDir();
  try {
    const r = new VoucherRedeemer({ home, secretKey: node, server: "http://127.0.0.1:1" });
    const bad = { ...claim(1), voucher: { ...claim(1).voucher, content: "{}" } };
    await assert.rejects(r.keep(bad), TypeError);
    assert.deepEqual(await r.pending(), []);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
