// The operator-key page in-process (app.request with a session cookie), paying through the fake
// CoinPayPortal: both claimed nodes listed with the summed earnings, one operator address, a payout
// of exactly the sum sent once however often the form is resent, and a claimed node's own session
// still working (its payout goes through the operator).
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import {
  accountBalance,
  operatorEarnings,
  PAYOUTS_IN_FLIGHT,
  PROCESSOR_CLEARING,
  submitClaim,
} from "../../db/mod.ts";
import {
  createCountersign,
  createOperatorClaim,
  formatUsd,
  verifyCountersign,
  verifyOperatorClaim,
} from "../../shared/mod.ts";
import { fundOperatorEarnings } from "../../testing/funding.ts";
import { openPaymentsTestControlPlane, type PaymentsTestEnv } from "../../testing/control_plane.ts";
import { issueSessionToken, type SessionRole } from "../auth/session.ts";
import { createApp } from "../app.ts";

const SOL = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
const BASE = "http://control.test";

async function claim(env: PaymentsTestEnv, node: Uint8Array, operator: Uint8Array): Promise<void> {
  const event = createOperatorClaim(node, getPublicKey(operator));
  const c = verifyOperatorClaim(event);
  assert.ok(c.ok);
  const cs = verifyCountersign(createCountersign(operator, event), c.value);
  assert.ok(cs.ok);
  await submitClaim(env.tcp.cp.db.sql, c.value, cs.value);
}

Deno.test({
  name: "operator account page - two nodes, summed earnings, one address, the sum paid once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const env = await openPaymentsTestControlPlane({ apiKey: "k", businessId: "biz", webhookSecret: "s" });
    try {
      const cp = env.tcp.cp;
      const app = createApp(cp);
      const op = generateSecretKey();
      const [nodeA, nodeB] = [generateSecretKey(), generateSecretKey()];
      const [A, B] = [getPublicKey(nodeA), getPublicKey(nodeB)];
      await claim(env, nodeA, op);
      await claim(env, nodeB, op);
      await fundOperatorEarnings(cp.db.sql, A, 12_340_000_000n);
      await fundOperatorEarnings(cp.db.sql, B, 7_660_000_005n);

      const cookieOf = async (pubkey: string, role: SessionRole) =>
        `infernet_session=${(await issueSessionToken(cp, pubkey, undefined, role)).token}`;
      const cookie = await cookieOf(getPublicKey(op), "operator");
      const get = (path: string, c = cookie) => app.request(BASE + path, { headers: { cookie: c } });
      const post = (path: string, fields: Record<string, string>, c = cookie) =>
        app.request(BASE + path, {
          method: "POST",
          headers: { cookie: c, origin: BASE, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams(fields),
        });

      const res = await get("/operator");
      assert.equal(res.status, 200);
      const html = await res.text();
      assert.match(html, /Your nodes \(2\)/);
      assert.match(
        html,
        new RegExp(`>Operator ${getPublicKey(op).slice(0, 8)}…<`),
        "the nav says whose session",
      );
      for (const [key, earned] of [[A, 12_340_000_000n], [B, 7_660_000_005n]] as const) {
        const row = new RegExp(`data-node="${key}"[\\s\\S]*?data-stat="node-pending">${formatUsd(earned)}<`);
        assert.match(html, row, `node ${key} with its own earnings`);
      }
      assert.match(html, new RegExp(`data-stat="pending">${formatUsd(20_000_000_005n)} USD<`), "summed");

      // One address for the operator (a bad one first: refused, nothing stored).
      assert.equal((await post("/operator/payout-address", { coin: "SOL", address: "nope" })).status, 400);
      const saved = await post("/operator/payout-address", { coin: "SOL", address: SOL });
      assert.equal(saved.status, 303);
      const page = await (await get("/operator")).text();
      assert.ok(page.includes(SOL));
      const token = /<input type="hidden" name="token" value="([0-9a-f]{32})"/.exec(page)?.[1];
      assert.ok(token);

      const paid = await post("/operator/payouts", { coin: "SOL", token });
      assert.equal(paid.status, 303);
      assert.match(paid.headers.get("location")!, /notice=payout&payout=\d+/);
      assert.equal(env.fake.payouts.length, 1);
      assert.equal(env.fake.payouts[0].amountUsd, 20);
      assert.equal(env.fake.payouts[0].recipientWallet, SOL);
      const clearing = await accountBalance(cp.db.sql, PROCESSOR_CLEARING);
      const left = await accountBalance(cp.db.sql, operatorEarnings(A)) +
        await accountBalance(cp.db.sql, operatorEarnings(B));
      assert.equal(left, 5n, "only the sub-cent remainder stays");

      // The same form again: nothing more is paid.
      const again = await post("/operator/payouts", { coin: "SOL", token });
      assert.equal(again.status, 303);
      assert.match(again.headers.get("location")!, /notice=payout_repeated/);
      assert.equal(env.fake.payouts.length, 1);
      assert.equal(await accountBalance(cp.db.sql, PROCESSOR_CLEARING), clearing);
      assert.equal(await accountBalance(cp.db.sql, PAYOUTS_IN_FLIGHT), 0n);
      const history = await (await get("/operator")).text();
      assert.match(history, /data-payout="\d+"/);

      // A claimed node still signs in as itself; its own payout is refused (the operator is paid).
      const nodeCookie = await cookieOf(A, "node");
      const nodePage = await get("/operator", nodeCookie);
      assert.equal(nodePage.status, 200);
      const nodeHtml = await nodePage.text();
      assert.doesNotMatch(nodeHtml, /Your nodes/);
      await fundOperatorEarnings(cp.db.sql, A, 12_000_000_000n);
      assert.equal(
        (await post("/operator/payout-address", { coin: "SOL", address: SOL }, nodeCookie)).status,
        303,
      );
      // Its page says who is paid, and offers no payout form of its own.
      const withAddress = await (await get("/operator", nodeCookie)).text();
      assert.match(
        withAddress,
        new RegExp(`claimed by operator <code>${npubEncode(getPublicKey(op))}</code>`),
      );
      assert.doesNotMatch(withAddress, /action="\/operator\/payouts"/);
      // Posted anyway (an old page, a script): refused by the server all the same.
      const nodeToken = "ab".repeat(16);
      const refused = await post("/operator/payouts", { coin: "SOL", token: nodeToken }, nodeCookie);
      assert.equal(refused.status, 409);
      assert.match(await refused.text(), /claimed by operator/);
      assert.equal(env.fake.payouts.length, 1);
      assert.equal(await accountBalance(cp.db.sql, operatorEarnings(A)), 12_000_000_000n);
    } finally {
      await env.close();
    }
  },
});

Deno.test({
  name: "operator account page - a node session cannot countersign, an operator's needs same-origin JSON",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const env = await openPaymentsTestControlPlane({ apiKey: "k", businessId: "biz", webhookSecret: "s" });
    try {
      const cp = env.tcp.cp;
      const app = createApp(cp);
      const op = generateSecretKey();
      const node = generateSecretKey();
      const event = createOperatorClaim(node, getPublicKey(op));
      const c = verifyOperatorClaim(event);
      assert.ok(c.ok);
      await submitClaim(cp.db.sql, c.value);
      const send = async (pubkey: string, role: SessionRole, headers: Record<string, string>) => {
        const cookie = `infernet_session=${(await issueSessionToken(cp, pubkey, undefined, role)).token}`;
        return await app.request(BASE + "/operator/claims/countersign", {
          method: "POST",
          headers: { cookie, ...headers },
          body: JSON.stringify({ event: createCountersign(op, event) }),
        });
      };
      const json = { "content-type": "application/json", origin: BASE };
      const asNode = await send(getPublicKey(node), "node", json);
      assert.equal(asNode.status, 403);
      assert.match((await asNode.json()).error.message, /operator key/);
      const crossSite = await send(getPublicKey(op), "operator", { ...json, origin: "https://evil.test" });
      assert.equal(crossSite.status, 403);
      await crossSite.body?.cancel();
      const ok = await send(getPublicKey(op), "operator", json);
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).claim.status, "active");
    } finally {
      await env.close();
    }
  },
});
