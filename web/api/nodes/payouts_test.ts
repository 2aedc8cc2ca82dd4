// The payout routes in-process: NIP-98 on every one, addresses validated before they are stored,
// refusals that say what to do. (The paid path end to end is in cli/money_cli_test.ts.)
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { listPayoutAddresses } from "../../../db/mod.ts";
import { fundOperatorEarnings } from "../../../testing/funding.ts";
import { createNip98Header } from "../../../shared/mod.ts";
import { createApp } from "../../app.ts";
import { openTestControlPlane, type TestControlPlane } from "../../../testing/control_plane.ts";

const BASE = "http://control.test";

async function withApp(fn: (call: ReturnType<typeof caller>, t: TestControlPlane) => Promise<void>) {
  const t = await openTestControlPlane();
  try {
    await fn(caller(createApp(t.cp)), t);
  } finally {
    await t.close();
  }
}

function caller(app: ReturnType<typeof createApp>) {
  return (
    method: "GET" | "POST",
    path: string,
    opts: { sk?: Uint8Array; body?: unknown; signedPath?: string } = {},
  ) => {
    const body = opts.body === undefined ? "" : JSON.stringify(opts.body);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.sk) {
      headers.authorization = createNip98Header(opts.sk, BASE + (opts.signedPath ?? path), method, body);
    }
    return app.request(BASE + path, { method, headers, body: method === "POST" ? body : undefined });
  };
}

async function errorOf(res: Response): Promise<string> {
  return (await res.json()).error.message;
}

const ROUTES = [
  ["POST", "/api/nodes/payout-address"],
  ["GET", "/api/nodes/payout-addresses"],
  ["POST", "/api/nodes/payouts"],
  ["GET", "/api/nodes/payouts"],
  ["GET", "/api/nodes/earnings"],
] as const;

Deno.test("payout routes - every route needs a NIP-98 signature for its own URL and method", async () => {
  await withApp(async (call) => {
    const sk = generateSecretKey();
    for (const [method, path] of ROUTES) {
      const unsigned = await call(method, path);
      assert.equal(unsigned.status, 401, `${method} ${path}`);
      assert.match(await errorOf(unsigned), /NIP-98/);
      const elsewhere = await call(method, path, { sk, signedPath: "/api/nodes/heartbeat" });
      assert.equal(elsewhere.status, 401, `${method} ${path} signed for another URL`);
      await elsewhere.body?.cancel();
    }
  });
});

Deno.test("payout routes - an invalid address is refused with the reason and nothing is stored", async () => {
  await withApp(async (call, t) => {
    const sk = generateSecretKey();
    const bad = await call("POST", "/api/nodes/payout-address", {
      sk,
      body: { coin: "BTC", address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5" },
    });
    assert.equal(bad.status, 400);
    assert.match(await errorOf(bad), /not a valid BTC address: .*checksum/);
    const badCoin = await call("POST", "/api/nodes/payout-address", {
      sk,
      body: { coin: "FOO", address: "x" },
    });
    assert.equal(badCoin.status, 400);
    assert.match(await errorOf(badCoin), /coin must be one of BTC/);
    assert.deepEqual(await listPayoutAddresses(t.cp.db.sql, getPublicKey(sk)), []);

    const ok = await call("POST", "/api/nodes/payout-address", {
      sk,
      body: { coin: "ETH", address: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed" },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { coin: "ETH", address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" });
    const list = await (await call("GET", "/api/nodes/payout-addresses", { sk })).json();
    assert.deepEqual(list.addresses.map((a: { coin: string }) => a.coin), ["ETH"]);
  });
});

Deno.test("payout routes - a payout without an address or below the minimum is refused with what to do", async () => {
  await withApp(async (call, t) => {
    const sk = generateSecretKey();
    const noAddress = await call("POST", "/api/nodes/payouts", { sk, body: {} });
    assert.equal(noAddress.status, 409);
    assert.match(await errorOf(noAddress), /infernet payout set --coin/);
    await call("POST", "/api/nodes/payout-address", {
      sk,
      body: { coin: "ETH", address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" },
    });
    await fundOperatorEarnings(t.cp.db.sql, getPublicKey(sk), 5n * 10_000_000n);
    const low = await call("POST", "/api/nodes/payouts", { sk });
    assert.equal(low.status, 409);
    assert.match(await errorOf(low), /earnings of \$0\.05 are below the minimum payout of \$10/);
    const badCoin = await call("POST", "/api/nodes/payouts", { sk, body: { coin: "eth" } });
    assert.equal(badCoin.status, 400);
    await badCoin.body?.cancel();
    const earnings = await (await call("GET", "/api/nodes/earnings", { sk })).json();
    assert.equal(earnings.pending_usd, "0.05");
    assert.equal(earnings.paid_usd, "0");
    assert.equal(earnings.min_payout_usd, "10");
    assert.equal(earnings.days.length, 1);
    assert.equal(earnings.days[0].jobs, 1);
    assert.deepEqual((await (await call("GET", "/api/nodes/payouts", { sk })).json()).payouts, []);
  });
});
