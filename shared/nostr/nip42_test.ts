import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createAuthEvent, createChallenge, verifyAuthEvent } from "./nip42.ts";

Deno.test("socket auth - accepts the signed answer to this connection's challenge", () => {
  const sk = generateSecretKey();
  const challenge = createChallenge();
  const event = createAuthEvent(sk, "ws://127.0.0.1:8787/api/nodes/ws", challenge);
  const r = verifyAuthEvent(event, { challenge, host: "127.0.0.1:8787" });
  assert.deepEqual(r, { ok: true, pubkey: getPublicKey(sk) });
});

Deno.test("socket auth - rejects another challenge, another server, a stale answer", () => {
  const sk = generateSecretKey();
  const challenge = createChallenge();
  const event = createAuthEvent(sk, "ws://127.0.0.1:8787/api/nodes/ws", challenge);
  assert.match(
    (verifyAuthEvent(event, { challenge: createChallenge(), host: "127.0.0.1:8787" }) as { reason: string })
      .reason,
    /challenge/,
  );
  assert.match(
    (verifyAuthEvent(event, { challenge, host: "evil.example" }) as { reason: string }).reason,
    /relay/,
  );
  const old = createAuthEvent(sk, "ws://127.0.0.1:8787/api/nodes/ws", challenge, 1000);
  assert.match(
    (verifyAuthEvent(old, { challenge, host: "127.0.0.1:8787" }) as { reason: string }).reason,
    /stale/,
  );
  const forged = { ...event, pubkey: getPublicKey(generateSecretKey()) };
  assert.equal(verifyAuthEvent(forged, { challenge, host: "127.0.0.1:8787" }).ok, false);
});
