// The claim routes in-process: NIP-98 on every one; a bad node signature, a bad countersignature or
// mismatched keys is refused with the reason and changes nothing; the whole claim → countersign →
// revoke → reclaim life over HTTP.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { operatorOfNode } from "../../db/mod.ts";
import {
  createCountersign,
  createNip98Header,
  createOperatorClaim,
  createRevocation,
} from "../../shared/mod.ts";
import { createApp } from "../app.ts";
import { openTestControlPlane, type TestControlPlane } from "../../testing/control_plane.ts";

const BASE = "http://control.test";

type Call = (
  method: "GET" | "POST",
  path: string,
  opts?: { sk?: Uint8Array; body?: unknown },
) => Promise<Response>;

async function withApp(fn: (call: Call, t: TestControlPlane) => Promise<void>) {
  const t = await openTestControlPlane();
  const app = createApp(t.cp);
  const call: Call = (method, path, opts = {}) => {
    const body = opts.body === undefined ? "" : JSON.stringify(opts.body);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.sk) headers.authorization = createNip98Header(opts.sk, BASE + path, method, body);
    return Promise.resolve(
      app.request(BASE + path, { method, headers, body: method === "POST" ? body : undefined }),
    );
  };
  try {
    await fn(call, t);
  } finally {
    await t.close();
  }
}

async function claimRows(t: TestControlPlane): Promise<number> {
  const [{ n }] = await t.cp.db.sql<{ n: bigint }[]>`select count(*)::int8 as n from operator_claims`;
  return Number(n);
}

async function refused(res: Response, status: number, pattern: RegExp): Promise<void> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.match(body.error.message, pattern);
}

Deno.test("operator api - every route needs a NIP-98 signature", async () => {
  await withApp(async (call) => {
    for (
      const [method, path] of [
        ["POST", "/api/operator/claims"],
        ["GET", "/api/operator/claims"],
        ["POST", "/api/operator/countersign"],
        ["POST", "/api/operator/revoke"],
        ["GET", "/api/operator/node"],
      ] as const
    ) {
      await refused(await call(method, path, { body: method === "POST" ? {} : undefined }), 401, /NIP-98/);
    }
  });
});

Deno.test("operator api - a bad node signature, bad countersignature or mismatched keys changes nothing", async () => {
  await withApp(async (call, t) => {
    const node = generateSecretKey();
    const op = generateSecretKey();
    const stranger = generateSecretKey();
    const claim = createOperatorClaim(node, getPublicKey(op));
    const cases: [Uint8Array, unknown, number, RegExp][] = [
      [
        node,
        { claim: { ...claim, sig: "ab".repeat(64) } },
        400,
        /claim refused: invalid claim id or signature/,
      ],
      [
        node,
        { claim: { ...claim, tags: [["p", getPublicKey(stranger)], ["claim", "infernet-operator"]] } },
        400,
        /invalid claim id/,
      ],
      [
        node,
        { claim, countersign: createCountersign(stranger, claim) },
        400,
        /countersignature refused: .*operator the claim names/,
      ],
      [
        node,
        { claim, countersign: { ...createCountersign(op, claim), sig: "cd".repeat(64) } },
        400,
        /invalid countersignature/,
      ],
      [
        node,
        {
          claim,
          countersign: createCountersign(
            op,
            createOperatorClaim(node, getPublicKey(op), claim.created_at - 5),
          ),
        },
        400,
        /e tag/,
      ],
      [stranger, { claim }, 403, /Only the node or the operator/],
      [node, { claim: "not an event" }, 400, /claim must be a signed Nostr event/],
      [node, { claim, countersign: 7 }, 400, /countersign must be a signed Nostr event/],
      [node, [claim], 400, /body must be a JSON object/],
    ];
    for (const [sk, body, status, pattern] of cases) {
      await refused(await call("POST", "/api/operator/claims", { sk, body }), status, pattern);
    }
    assert.equal(await claimRows(t), 0, "nothing was stored");
    assert.equal(await operatorOfNode(t.cp.db.sql, getPublicKey(node)), null);
  });
});

Deno.test("operator api - claim, countersign, refuse a second operator, revoke, reclaim", async () => {
  await withApp(async (call, t) => {
    const node = generateSecretKey();
    const [a, b] = [generateSecretKey(), generateSecretKey()];
    const NODE = getPublicKey(node);
    const now = Math.floor(Date.now() / 1000);
    const claim = createOperatorClaim(node, getPublicKey(a), now - 30);
    const sent = await call("POST", "/api/operator/claims", { sk: node, body: { claim } });
    assert.equal(sent.status, 201);
    assert.equal((await sent.json()).claim.status, "pending");

    // The operator lists it and countersigns it with their own key.
    const listed = await (await call("GET", "/api/operator/claims", { sk: a })).json();
    assert.deepEqual(listed.claims.map((c: { claim_id: string }) => c.claim_id), [claim.id]);
    assert.equal(listed.claims[0].claim.sig, claim.sig);
    await refused(
      await call("POST", "/api/operator/countersign", {
        sk: b,
        body: { countersign: createCountersign(b, claim) },
      }),
      404,
      /No claim naming you/,
    );
    const cs = createCountersign(a, claim, now - 25);
    const signed = await call("POST", "/api/operator/countersign", { sk: a, body: { countersign: cs } });
    assert.equal(signed.status, 200);
    assert.equal((await signed.json()).claim.status, "active");
    assert.equal(await operatorOfNode(t.cp.db.sql, NODE), getPublicKey(a));
    assert.equal(
      (await (await call("GET", "/api/operator/node", { sk: node })).json()).claim.operator_pubkey,
      getPublicKey(a),
    );

    // A second operator: refused, with the reason.
    const second = createOperatorClaim(node, getPublicKey(b), now - 20);
    await refused(
      await call("POST", "/api/operator/claims", {
        sk: node,
        body: { claim: second, countersign: createCountersign(b, second) },
      }),
      409,
      /claimed by another operator/,
    );
    assert.equal(await operatorOfNode(t.cp.db.sql, NODE), getPublicKey(a));

    // The operator revokes (deleting its countersignature); the node is free.
    await refused(
      await call("POST", "/api/operator/revoke", {
        sk: node,
        body: { revocation: createRevocation(a, cs, now - 15) },
      }),
      403,
      /the key that signed it/,
    );
    const revoked = await call("POST", "/api/operator/revoke", {
      sk: a,
      body: { revocation: createRevocation(a, cs, now - 15) },
    });
    assert.equal(revoked.status, 200);
    assert.equal((await revoked.json()).claims[0].status, "revoked");
    assert.equal(await operatorOfNode(t.cp.db.sql, NODE), null);

    // The old claim and countersignature again: refused as a replay.
    await refused(
      await call("POST", "/api/operator/claims", { sk: node, body: { claim, countersign: cs } }),
      409,
      /already submitted/,
    );
    // Another operator claims it now, in one request (the operator countersigned offline).
    const third = createOperatorClaim(node, getPublicKey(b), now - 5);
    const reclaimed = await call("POST", "/api/operator/claims", {
      sk: b,
      body: { claim: third, countersign: createCountersign(b, third) },
    });
    assert.equal(reclaimed.status, 201);
    assert.equal(await operatorOfNode(t.cp.db.sql, NODE), getPublicKey(b));
  });
});
